"""The certificate folder (certs/ by default): where the CA and broker material live.

    certs/ca.crt ca.key            the project's CA (PEM) and its key (0600)
    certs/ca.der                   the CA in DER, what devices embed
    certs/broker.crt broker.key    the broker's certificate and key
    certs/devices/<id>.crt .key    per-device client certificates (mutual TLS)
"""

from dataclasses import dataclass
from pathlib import Path

from . import certs


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

    def device_cert(self, device_id):
        return self.root / "devices" / f"{device_id}.crt"

    def device_key(self, device_id):
        return self.root / "devices" / f"{device_id}.key"

    def has_ca(self):
        return self.ca_cert.exists() and self.ca_key.exists()

    def create_ca(self, common_name="mqtt-node CA", key_type="rsa", days=3650, force=False):
        key = certs.generate_key(key_type)
        cert = certs.build_ca(common_name, key, days=days)
        certs.write_secret(self.ca_key, certs.key_pem(key), force=force)
        certs.write_public(self.ca_cert, certs.cert_pem(cert))
        certs.write_public(self.ca_der, certs.cert_der(cert))
        return cert

    def load_ca(self):
        return certs.load_cert(self.ca_cert), certs.load_key(self.ca_key)

    def issue_broker(self, dns_names=("localhost",), ip_addresses=("127.0.0.1",),
                     key_type="rsa", days=825, force=False, cert_path=None, key_path=None):
        ca_cert, ca_key = self.load_ca()
        key = certs.generate_key(key_type)
        common_name = (list(dns_names) + list(ip_addresses) + ["mqtt-broker"])[0]
        cert = certs.build_leaf(ca_cert, ca_key, common_name, key, dns_names=dns_names,
                                ip_addresses=ip_addresses, server=True, days=days)
        certs.write_secret(key_path or self.broker_key, certs.key_pem(key), force=force)
        certs.write_public(cert_path or self.broker_cert, certs.cert_pem(cert))
        return cert

    def issue_device(self, device_id, key_type="rsa", days=825, force=False):
        ca_cert, ca_key = self.load_ca()
        key = certs.generate_key(key_type)
        cert = certs.build_leaf(ca_cert, ca_key, device_id, key, server=False, days=days)
        certs.write_secret(self.device_key(device_id), certs.key_pem(key), force=force)
        certs.write_public(self.device_cert(device_id), certs.cert_pem(cert))
        return cert

    def ensure_dev(self, dns_names=("localhost",), ip_addresses=("127.0.0.1",)):
        """CA and broker certificate for local development, made only when missing."""
        made = []
        if not self.has_ca():
            self.create_ca(common_name="mqtt-node dev CA")
            made.append("CA")
        if not (self.broker_cert.exists() and self.broker_key.exists()):
            self.issue_broker(dns_names, ip_addresses)
            made.append("broker certificate")
        return made
