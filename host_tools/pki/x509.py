"""Keys and X.509 certificates: the CA, the broker's certificate, device certificates."""

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import UserError

# ESP8266 (axTLS) completes a handshake only with RSA key exchange, so RSA is the default.
KEY_TYPES = ("rsa", "ec")


def generate_key(key_type="rsa"):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise UserError(f"unknown key type {key_type!r}: use one of {', '.join(KEY_TYPES)}")


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(days, not_before):
    start = not_before or (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    return start, start + dt.timedelta(days=days)


def build_ca(common_name, key, days=3650, not_before=None):
    start, end = _validity(days, not_before)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def build_leaf(ca_cert, ca_key, common_name, key, *, dns_names=(), ip_addresses=(),
               server=True, days=825, not_before=None):
    """A server (broker) or client (device) certificate signed by the CA."""
    start, end = _validity(days, not_before)
    sans = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=is_rsa, key_cert_sign=False,
                crl_sign=False, content_commitment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def cert_der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_der(key) -> bytes:
    """A private key as DER: PKCS#1 for RSA (what axTLS and mbedtls both load), SEC1 for EC."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def fingerprint_sha256(cert) -> str:
    return hashlib.sha256(cert_der(cert)).hexdigest()


KEY_PIN = "sha256//"        # a public key pin, as curl's --pinnedpubkey (and HPKP) writes it


def spki_der(cert) -> bytes:
    """The certificate's SubjectPublicKeyInfo in DER: what a key pin hashes."""
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_pin(cert) -> str:
    """The key pin of a certificate: "sha256//" + base64 (standard, padded) of the SHA-256 of
    its SubjectPublicKeyInfo, as curl --pinnedpubkey takes it and node.tls compares it. It
    stays the same over a renewal that keeps the key."""
    return KEY_PIN + base64.b64encode(hashlib.sha256(spki_der(cert)).digest()).decode()


def key_pin_digest(pin: str) -> bytes | None:
    """The 32 bytes a key pin names, or None when it is not one ("sha256//" + 44 characters of
    standard base64)."""
    if not pin.startswith(KEY_PIN):
        return None
    try:
        digest = base64.b64decode(pin[len(KEY_PIN):], validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 32 else None


def write_secret(path: Path, data: bytes, force=False):
    """Write key material with mode 0600 from the first byte on; refuse to overwrite without force."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not force:
        raise UserError(f"{path} exists: keep it, or pass --force to replace it")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def write_public(path: Path, data: bytes, force=True):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not force:
        raise UserError(f"{path} exists: keep it, or pass --force to replace it")
    path.write_bytes(data)
    os.chmod(path, 0o644)


def _load(path, fix, what, pem, der, errors=(ValueError,)):
    """A PEM or DER file parsed; whatever is wrong with it is a UserError ending in `fix`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} is missing: {fix}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}): {fix}") from None
    try:
        return (pem if data.lstrip().startswith(b"-----") else der)(data)
    except errors as exc:
        raise UserError(f"{path} is not {what} ({exc}): {fix}") from None


def load_cert(path, fix="regenerate it with `certs`"):
    return _load(path, fix, "a certificate, or not a whole one", x509.load_pem_x509_certificate,
                 x509.load_der_x509_certificate)


def load_key(path, fix="regenerate it with `certs`"):
    return _load(path, fix, "an unencrypted private key",
                 lambda d: serialization.load_pem_private_key(d, password=None),
                 lambda d: serialization.load_der_private_key(d, password=None), (ValueError, TypeError))


def key_matches(cert, key) -> bool:
    """Whether `key` is the private half of the certificate's public key."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return (cert.public_key().public_bytes(serialization.Encoding.DER, spki)
            == key.public_key().public_bytes(serialization.Encoding.DER, spki))


def issued_by(cert, issuer) -> bool:
    """Whether `issuer` signed `cert` (names and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def key_description(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    return type(public_key).__name__


def common_name(name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return cns[0].value if cns else name.rfc4514_string()


def subject_alt_names(cert) -> list:
    """The DNS names and IP addresses a certificate is valid for, as strings."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ext.get_values_for_type(x509.DNSName) + [str(a) for a in ext.get_values_for_type(x509.IPAddress)]


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def matches_name(cert, name: str) -> bool:
    """Whether `name` (a host name or IP address) is one the certificate was issued for."""
    sans = subject_alt_names(cert)
    try:
        return str(ipaddress.ip_address(name)) in sans
    except ValueError:
        pass
    name = name.lower().rstrip(".")
    for san in sans:
        san = san.lower()
        if san == name:
            return True
        # One wildcard label on the left, as TLS clients accept it.
        if san.startswith("*.") and "." in name and name.split(".", 1)[1] == san[2:]:
            return True
    return False


def days_left(cert, now=None) -> float:
    now = now or dt.datetime.now(dt.timezone.utc)
    return (cert.not_valid_after_utc - now).total_seconds() / 86400


def is_rsa_signed(cert) -> bool:
    return cert.signature_algorithm_oid.dotted_string.startswith("1.2.840.113549.1.1.")


def axtls_problems(cert) -> list:
    """Why an ESP8266 (axTLS) could not use this certificate, or [] when it can.

    axTLS offers only RSA key exchange (AES128-SHA, AES256-SHA, AES128-SHA256, AES256-SHA256)
    and its X.509 parser rejects certificates whose key or signature is not RSA.
    """
    out = []
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        out.append(f"its key is {key_description(cert.public_key())}, and axTLS only does RSA key "
                   "exchange (AES128-SHA, AES256-SHA, AES128-SHA256, AES256-SHA256)")
    elif cert.public_key().key_size > 4096:
        out.append(f"its RSA key has {cert.public_key().key_size} bits; axTLS handles at most 4096")
    if not is_rsa_signed(cert):
        algo = getattr(cert.signature_algorithm_oid, "_name", cert.signature_algorithm_oid.dotted_string)
        out.append(f"it is signed with {algo}, and axTLS parses only "
                   "RSA-signed certificates (use an RSA CA)")
    return out


def describe(cert, warn_days=30, now=None) -> dict:
    left = days_left(cert, now)
    info = {
        "subject": common_name(cert.subject),
        "issuer": common_name(cert.issuer),
        "sans": subject_alt_names(cert),
        "key": key_description(cert.public_key()),
        "not_after": cert.not_valid_after_utc,
        "days_left": int(left // 1),
        "sha256": fingerprint_sha256(cert),
        "key_pin": spki_pin(cert),
        "warning": None,
    }
    now = now or dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_before_utc > now:
        info["warning"] = f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    elif left < 0:
        info["warning"] = f"EXPIRED on {cert.not_valid_after_utc:%Y-%m-%d} ({int(-left)} days ago)"
    elif left <= warn_days:
        info["warning"] = f"expires in {int(left)} days (within {warn_days})"
    return info
