"""The certificate material checked before anything is built on it: each file parses, each key
belongs to its certificate, the dates hold, the broker's certificate comes from the CA, and
private keys are readable by their owner only. A problem found here would otherwise show up
later as a raw OpenSSL line in Mosquitto's log, or as a board that cannot connect."""

import datetime as dt
from pathlib import Path

from cryptography import x509 as cx509

from ..errors import UserError
from . import x509


def key_mode(path: Path):
    """Private keys stay 0600: never loosened so another user (or a container) can read them."""
    mode = Path(path).stat().st_mode & 0o777
    if mode & 0o077:
        raise UserError(f"{path} is readable by others (mode {mode:04o}): run `chmod 600 {path}`; "
                        "Mosquitto reads it as the user in its config, no need to loosen it")


def _dates(cert, path, fix, now):
    if cert.not_valid_after_utc < now:
        raise UserError(f"{path} expired on {cert.not_valid_after_utc:%Y-%m-%d}: {fix}")
    if cert.not_valid_before_utc > now:
        raise UserError(f"{path} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
                        f"UTC: check this machine's clock, or {fix}")


def _pair(cert_path, key_path, fix, now):
    """The certificate and its key, both parsed, matching, in date, the key 0600."""
    cert = x509.load_cert(cert_path, fix)
    _dates(cert, cert_path, fix, now)
    if not Path(key_path).exists():
        raise UserError(f"{key_path} is missing: {fix}")
    key_mode(key_path)
    key = x509.load_key(key_path, fix)
    if not x509.key_matches(cert, key):
        raise UserError(f"{key_path} does not belong to {cert_path} (their public keys differ): {fix}")
    return cert, key


def ca(pki, now=None, need_key=False):
    """(certificate, key) of the CA; the key is checked when it is here (it may be kept
    offline: then None) and must be here when `need_key`."""
    now = now or dt.datetime.now(dt.timezone.utc)
    fix = "copy the right file back, or make a new CA with `certs ca --force` (then reissue " \
          "the broker's certificate and provision every device again)"
    if not pki.ca_cert.exists():
        raise UserError(f"no CA in {pki.root}/: create one with `python -m host_tools certs ca`")
    if need_key or pki.ca_key.exists():
        cert, key = _pair(pki.ca_cert, pki.ca_key, fix, now)
    else:
        cert, key = x509.load_cert(pki.ca_cert, fix), None
        _dates(cert, pki.ca_cert, fix, now)
    try:
        is_ca = cert.extensions.get_extension_for_class(cx509.BasicConstraints).value.ca
    except cx509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise UserError(f"{pki.ca_cert} is not a CA certificate (no CA basic constraint): {fix}")
    return cert, key


def broker(pki, now=None):
    """CA and broker certificate as Mosquitto will load them (and the next one of a rotation)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    ca_cert, _ = ca(pki, now)
    if not pki.broker_cert.exists():
        raise UserError(f"no broker certificate in {pki.root}/: issue one with "
                        "`python -m host_tools certs broker --dns NAME`")
    pairs = [(pki.broker_cert, pki.broker_key, "issue it again with `certs broker --dns NAME "
                                               "--force`, or rotate (`certs broker --next`)")]
    if pki.next_cert.exists():
        pairs.append((pki.next_cert, pki.next_key, "issue it again with `certs broker --next --force`"))
    for cert_path, key_path, fix in pairs:
        cert, _ = _pair(cert_path, key_path, fix, now)
        if not x509.issued_by(cert, ca_cert):
            raise UserError(f"{cert_path} is not signed by the CA in {pki.ca_cert} "
                            f"({x509.common_name(ca_cert.subject)}): devices would not trust it: {fix}")
    return ca_cert
