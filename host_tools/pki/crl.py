"""The CA's certificate revocation list (certs/crl.pem): the client certificates of revoked
devices, which a broker requiring client certificates refuses (Mosquitto's `crlfile`).

OpenSSL refuses every client certificate when the CRL it is given has expired or comes from
another CA, so the list is valid until the CA itself expires, and is made again for a new CA.
"""

import datetime as dt

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization

from ..errors import UserError
from . import x509


def load(path):
    if not path.exists():
        return None
    try:
        return cx509.load_pem_x509_crl(path.read_bytes())
    except ValueError as exc:
        raise UserError(f"{path} is not a revocation list ({exc}): remove it; `revoke` the "
                        "devices again to list them") from None


def _sign(pki, ca_cert, ca_key, serials):
    now = dt.datetime.now(dt.timezone.utc)
    builder = (cx509.CertificateRevocationListBuilder()
               .issuer_name(ca_cert.subject)
               .last_update(now - dt.timedelta(minutes=5))
               .next_update(ca_cert.not_valid_after_utc))
    for serial, when in sorted(serials.items()):
        builder = builder.add_revoked_certificate(
            cx509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    crl = builder.sign(ca_key, hashes.SHA256())
    x509.write_public(pki.crl, crl.public_bytes(serialization.Encoding.PEM))
    return crl


def _current(pki, ca_cert):
    """serial -> revocation date of what the CRL lists for this CA (nothing for another CA's)."""
    crl = load(pki.crl)
    if crl is None or crl.issuer != ca_cert.subject or not crl.is_signature_valid(ca_cert.public_key()):
        return None
    return {r.serial_number: r.revocation_date_utc for r in crl}


def ensure(pki):
    """A CRL signed by the current CA, made (empty) when missing or from another CA."""
    ca_cert, ca_key = pki.load_ca()
    if _current(pki, ca_cert) is None:
        _sign(pki, ca_cert, ca_key, {})
    return pki.crl


def revoke(pki, cert) -> bool:
    """Add a client certificate to the CRL; False when it is not the current CA's or already there."""
    ca_cert, ca_key = pki.load_ca()
    if not x509.issued_by(cert, ca_cert):
        return False
    serials = _current(pki, ca_cert) or {}
    if cert.serial_number in serials:
        return False
    serials[cert.serial_number] = dt.datetime.now(dt.timezone.utc)
    _sign(pki, ca_cert, ca_key, serials)
    return True


def revoked_serials(pki) -> set:
    crl = load(pki.crl)
    return {r.serial_number for r in crl} if crl is not None else set()
