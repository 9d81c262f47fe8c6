"""The certificate folder (certs/ by default): where the CA and broker material live.

    certs/ca.crt ca.key            the project's CA (PEM) and its key (0600)
    certs/ca.der                   the CA in DER, what devices embed
    certs/broker.crt broker.key    the broker's certificate and key (what Mosquitto serves)
    certs/broker-next.crt .key     during a rotation: the certificate that will replace it
    certs/broker-prev.crt .key     after a rotation: the one it replaced (for a rollback)
    certs/devices/<id>.crt .key    per-device client certificates (mutual TLS)
    certs/crl.pem                  the CA's revocation list: client certificates of revoked devices
    certs/revoked/                 certificates and keys of revoked devices, kept for the record

Rotation keeps devices working: `certs broker --next` issues broker-next, provisioning then
pins both fingerprints, and `certs broker --promote` makes broker-next the served one.
`certs broker --renew` issues a new broker.crt over the same broker.key: a device that pins the
key (sha256//...) keeps connecting, one that pins the certificate needs its new fingerprint.
"""

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import checks
from . import x509 as certs


@dataclass
class Pki:
    root: Path

    @property
    def ca_cert(self):
        return self.root / "ca.crt"

    @property
    def ca_key(self):
        return self.root / "ca.key"

    @property
    def ca_der(self):
        return self.root / "ca.der"

    @property
    def broker_cert(self):
        return self.root / "broker.crt"

    @property
    def broker_key(self):
        return self.root / "broker.key"

    @property
    def next_cert(self):
        return self.root / "broker-next.crt"

    @property
    def next_key(self):
        return self.root / "broker-next.key"

    @property
    def prev_cert(self):
        return self.root / "broker-prev.crt"

    @property
    def prev_key(self):
        return self.root / "broker-prev.key"

    @property
    def crl(self):
        return self.root / "crl.pem"

    @property
    def revoked_dir(self):
        return self.root / "revoked"

    def device_cert(self, device_id):
        return self.root / "devices" / f"{device_id}.crt"

    def device_key(self, device_id):
        return self.root / "devices" / f"{device_id}.key"

    def has_ca(self):
        return self.ca_cert.exists() and self.ca_key.exists()

    def has_broker(self):
        return self.broker_cert.exists() and self.broker_key.exists()

    def has_device(self, device_id):
        return self.device_cert(device_id).exists() and self.device_key(device_id).exists()

    def create_ca(self, common_name="mqtt-node CA", key_type="rsa", days=3650, force=False):
        if self.ca_cert.exists() and not force:
            raise UserError(f"{self.ca_cert} exists: keep it, or pass --force to replace it (every "
                            "certificate it signed stops being trusted)")
        key = certs.generate_key(key_type)
        cert = certs.build_ca(common_name, key, days=days)
        certs.write_secret(self.ca_key, certs.key_pem(key), force=force)
        certs.write_public(self.ca_cert, certs.cert_pem(cert))
        certs.write_public(self.ca_der, certs.cert_der(cert))
        return cert

    def load_ca(self):
        """(certificate, key) of the CA, checked: in date, the key 0600 and its own."""
        if self.ca_cert.exists() and not self.ca_key.exists():
            raise UserError(f"the CA's key {self.ca_key} is not here, and it signs certificates "
                            "and the revocation list: copy it back (mode 0600) for this step")
        if not self.has_ca():
            raise UserError(f"no CA in {self.root}/: create one with `python -m host_tools certs ca`")
        return checks.ca(self, need_key=True)

    def issue_broker(self, dns_names=("localhost",), ip_addresses=("127.0.0.1",),
                     key_type="rsa", days=825, force=False, cert_path=None, key_path=None):
        ca_cert, ca_key = self.load_ca()
        cert_path, key_path = Path(cert_path or self.broker_cert), Path(key_path or self.broker_key)
        if not (dns_names or ip_addresses):
            raise UserError("a broker certificate needs at least one name: give --dns NAME or --ip ADDRESS")
        if key_path.exists() and not force:
            raise UserError(f"{key_path} exists: keep it, or pass --force to replace it")
        key = certs.generate_key(key_type)
        common_name = (list(dns_names) + list(ip_addresses))[0]
        try:
            cert = certs.build_leaf(ca_cert, ca_key, common_name, key, dns_names=dns_names,
                                    ip_addresses=ip_addresses, server=True, days=days)
        except ValueError as exc:
            raise UserError(f"bad --ip address ({exc}): give addresses like 192.168.1.10") from None
        certs.write_secret(key_path, certs.key_pem(key), force=force)
        certs.write_public(cert_path, certs.cert_pem(cert))
        return cert

    def issue_device(self, device_id, key_type="rsa", days=825, force=False):
        ca_cert, ca_key = self.load_ca()
        if self.device_key(device_id).exists() and not force:
            raise UserError(f"{self.device_key(device_id)} exists: keep it, or pass --force to replace it")
        key = certs.generate_key(key_type)
        cert = certs.build_leaf(ca_cert, ca_key, device_id, key, server=False, days=days)
        certs.write_secret(self.device_key(device_id), certs.key_pem(key), force=force)
        certs.write_public(self.device_cert(device_id), certs.cert_pem(cert))
        return cert

    def retire_device(self, device_id):
        """Move a revoked device's certificate and key to revoked/ (the key stays 0600)."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        moved = []
        for path in (self.device_cert(device_id), self.device_key(device_id)):
            if path.exists():
                self.revoked_dir.mkdir(mode=0o700, exist_ok=True)
                dest = self.revoked_dir / f"{device_id}-{stamp}{path.suffix}"
                os.replace(path, dest)
                moved.append(dest)
        return moved

    def ensure_dev(self, dns_names=("localhost",), ip_addresses=("127.0.0.1",)):
        """CA and broker certificate for local development, made only when missing."""
        made = []
        if not self.has_ca():
            self.create_ca(common_name="mqtt-node dev CA")
            made.append("CA")
        if not self.has_broker():
            self.issue_broker(dns_names, ip_addresses)
            made.append("broker certificate")
        return made

    # Rotation ---------------------------------------------------------------------------

    def broker(self):
        if not self.broker_cert.exists():
            raise UserError(f"no broker certificate in {self.root}/: issue one with "
                            "`python -m host_tools certs broker --dns NAME`")
        return certs.load_cert(self.broker_cert)

    def next_broker(self):
        return certs.load_cert(self.next_cert) if self.next_cert.exists() else None

    def issue_next(self, dns_names=None, ip_addresses=None, key_type="rsa", days=825, force=False):
        """The next broker certificate, by default for the same names as the current one."""
        if dns_names is None and ip_addresses is None:
            current = self.broker()
            sans = certs.subject_alt_names(current)
            ip_addresses = [s for s in sans if certs.is_ip(s)]
            dns_names = [s for s in sans if not certs.is_ip(s)]
        return self.issue_broker(dns_names or (), ip_addresses or (), key_type=key_type, days=days,
                                 force=force, cert_path=self.next_cert, key_path=self.next_key)

    def renew_broker(self, dns_names=None, ip_addresses=None, days=825):
        """A new broker certificate over the broker's own key (broker.key is kept): a new
        serial and validity, by default the same names. Returns (old, new) certificates."""
        if self.next_cert.exists():
            raise UserError(f"a rotation is under way ({self.next_cert.name} exists): finish it "
                            "with `certs broker --promote` first, or remove broker-next.crt and "
                            "broker-next.key to abandon it")
        old, key = self._broker_pair()
        ca_cert, ca_key = self.load_ca()
        if dns_names is None and ip_addresses is None:
            sans = certs.subject_alt_names(old)
            dns_names = [s for s in sans if not certs.is_ip(s)]
            ip_addresses = [s for s in sans if certs.is_ip(s)]
        if not (dns_names or ip_addresses):
            raise UserError("a broker certificate needs at least one name: give --dns NAME or "
                            "--ip ADDRESS")
        try:
            new = certs.build_leaf(ca_cert, ca_key, certs.common_name(old.subject), key,
                                   dns_names=dns_names, ip_addresses=ip_addresses, server=True,
                                   days=days)
        except ValueError as exc:
            raise UserError(f"bad --ip address ({exc}): give addresses like 192.168.1.10") \
                from None
        certs.write_public(self.broker_cert, certs.cert_pem(new))
        return old, new

    def _broker_pair(self):
        """The broker's certificate and key, the key 0600 and its own; dates not checked (an
        expired certificate is one to renew)."""
        fix = "issue a new one with `certs broker --dns NAME --force` (a new key: devices that " \
              "pin the key need `provision --all`)"
        cert = self.broker()
        if not self.broker_key.exists():
            raise UserError(f"{self.broker_key} is missing, and a renewal keeps the key: copy it "
                            f"back (mode 0600), or {fix}")
        checks.key_mode(self.broker_key)
        key = certs.load_key(self.broker_key, fix)
        if not certs.key_matches(cert, key):
            raise UserError(f"{self.broker_key} does not belong to {self.broker_cert} (their "
                            f"public keys differ): copy the right key back, or {fix}")
        return cert, key

    def promote_next(self, force=False):
        """broker-next becomes broker; the old one is kept as broker-prev for a rollback."""
        if not (self.next_cert.exists() and self.next_key.exists()):
            raise UserError(f"no {self.next_cert.name} in {self.root}/: issue it first with "
                            "`python -m host_tools certs broker --next`")
        if self.prev_key.exists() and not force:
            raise UserError(f"{self.prev_key} exists (from an earlier rotation): remove it, or pass "
                            "--force to replace it")
        if self.broker_cert.exists():
            os.replace(self.broker_cert, self.prev_cert)
        if self.broker_key.exists():
            os.replace(self.broker_key, self.prev_key)
        os.replace(self.next_key, self.broker_key)
        os.replace(self.next_cert, self.broker_cert)
        return certs.load_cert(self.broker_cert)

    def broker_pins(self):
        """SHA-256 fingerprints devices should accept: the current broker certificate, and the
        next one while a rotation is under way."""
        pins = [certs.fingerprint_sha256(self.broker())]
        nxt = self.next_broker()
        if nxt is not None:
            pins.append(certs.fingerprint_sha256(nxt))
        return pins

    def inventory(self):
        """(label, path) of every certificate in the folder, CA first."""
        found = []
        for label, path in (("CA", self.ca_cert), ("broker", self.broker_cert),
                            ("broker (next)", self.next_cert), ("broker (previous)", self.prev_cert)):
            if path.exists():
                found.append((label, path))
        devices = self.root / "devices"
        if devices.is_dir():
            for path in sorted(devices.glob("*.crt")):
                found.append((f"device {path.stem}", path))
        return found

