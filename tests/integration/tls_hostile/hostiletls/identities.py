"""The certificates the hostile server presents: the broker's (pinned, with its key, signed by
the test CA), another leaf the node does not pin, and one over the node's size cap."""

import base64
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from host_tools import certs

PADDING_OID = x509.ObjectIdentifier("1.3.6.1.4.1.32473.1.1")    # documentation arc


@dataclass(frozen=True)
class Identity:
    der: bytes
    key: object

    @property
    def pin(self):
        """The certificate pin: hex SHA-256 of the DER."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def key_pin(self):
        """The public key pin, curl's --pinnedpubkey form: sha256//base64(SHA-256(SPKI))."""
        spki = x509.load_der_x509_certificate(self.der).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def broker(pki):
    """The test PKI's broker certificate for localhost and its key."""
    return Identity(certs.cert_der(certs.load_cert(pki.broker_cert)), certs.load_key(pki.broker_key))


def issue(pki, name="localhost", padding=0):
    """A new RSA leaf for `name` signed by the test CA; padding adds that many bytes in an
    extension (a well-formed certificate of any size)."""
    ca_cert, ca_key = pki.load_ca()
    key = certs.generate_key("rsa")
    cert = certs.build_leaf(ca_cert, ca_key, name, key, dns_names=(name,))
    if padding:
        builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
                   .public_key(key.public_key()).serial_number(cert.serial_number)
                   .not_valid_before(cert.not_valid_before_utc)
                   .not_valid_after(cert.not_valid_after_utc))
        for ext in cert.extensions:
            builder = builder.add_extension(ext.value, ext.critical)
        builder = builder.add_extension(
            x509.UnrecognizedExtension(PADDING_OID, b"\x04\x82" + padding.to_bytes(2, "big")
                                       + b"p" * padding), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
    return Identity(certs.cert_der(cert), key)


def ca_der(pki):
    return certs.cert_der(certs.load_cert(pki.ca_cert))
