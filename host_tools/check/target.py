"""What `check` connects to and as whom: a device's bundle, or the MQTT_* settings."""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from ..errors import UserError
from ..pki import x509 as certs


@dataclass
class Target:
    host: str
    port: int
    tls: bool = True
    mode: str = "ca"                 # ca | pin | ca+pin | insecure
    ca_certs: list = field(default_factory=list)    # x509 certificates; [] = the system's
    ca_label: str = "the system's CA store"
    pins: list = field(default_factory=list)
    server_hostname: str | None = None              # the name checked; None: host
    certfile: str | None = None                     # PEM client certificate and key
    keyfile: str | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    device_id: str | None = None                    # set: check its topics too
    board: str | None = None
    site: object = None                             # the broker folder (BrokerDir), when here
    pki: object = None                              # the certificate folder (Pki), when here

    @property
    def checked_name(self):
        return self.server_hostname or self.host

    @property
    def passwd_file(self):
        return self.site.logins_file if self.site else None

    @property
    def acl_file(self):
        return self.site.rules_file if self.site else None


def _read_cas(path) -> list:
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise UserError(f"{path} holds no certificate ({exc}): point it at the CA file") from None


def _site(broker_dir):
    from ..broker.site import BrokerDir
    return BrokerDir(Path(broker_dir)) if broker_dir and Path(broker_dir).is_dir() else None


def from_settings(settings, host=None, port=None, broker_dir=None, pki=None) -> Target:
    host = host or settings.host
    if not host:
        raise UserError("no broker to check: give --host NAME, or set MQTT_BROKER_HOST")
    tls = settings.tls if port is None or settings.use_tls is not None else port != 1883
    t = Target(host=host, port=port or settings.effective_port(), tls=tls,
               mode="insecure" if settings.tls_insecure else "ca",
               username=settings.username, password=settings.password,
               client_id=settings.client_id, certfile=settings.certfile, keyfile=settings.keyfile,
               site=_site(broker_dir), pki=pki)
    if settings.ca_certs:
        if not Path(settings.ca_certs).exists():
            raise UserError(f"MQTT_CA_CERTS={settings.ca_certs} does not exist: point it at the CA file")
        t.ca_certs = _read_cas(settings.ca_certs)
        t.ca_label = settings.ca_certs
    if bool(settings.certfile) != bool(settings.keyfile):
        raise UserError("give both MQTT_CERTFILE and MQTT_KEYFILE for a client certificate, or neither")
    return t


def _pin(pin):
    # A key pin's base64 is case-sensitive; a certificate's hex fingerprint is not.
    return pin if pin.startswith(certs.KEY_PIN) else pin.replace(":", "").lower()


def from_bundle(bundle: Path, tmp: Path, host=None, port=None, broker_dir=None, pki=None) -> Target:
    from ..device.bundle import read_config
    cfg = read_config(bundle)
    if cfg is None:
        raise UserError(f"no device bundle in {bundle}: provision it with `provision {bundle.name} --board ...`")
    mqtt, tls = cfg.get("mqtt", {}), cfg.get("tls", {})
    t = Target(host=host or mqtt.get("host"), port=port or mqtt.get("port", 8883),
               mode=tls.get("mode", "ca"), pins=[_pin(p) for p in tls.get("pins", [])],
               # The device checks the name it was given, wherever this check connects to.
               server_hostname=tls.get("server_hostname") or mqtt.get("host"),
               username=mqtt.get("user"), password=mqtt.get("password"),
               client_id=mqtt.get("client_id"), device_id=cfg.get("device_id"),
               board=cfg.get("board"), site=_site(broker_dir), pki=pki)
    ca = Path(bundle) / tls.get("ca", "ca.der")
    if ca.exists():
        t.ca_certs, t.ca_label = _read_cas(ca), str(ca)
    if tls.get("cert") and tls.get("key"):
        cert = certs.load_cert(Path(bundle) / tls["cert"])
        key = certs.load_key(Path(bundle) / tls["key"])
        t.certfile, t.keyfile = str(tmp / "client.pem"), str(tmp / "client.key")
        certs.write_public(Path(t.certfile), certs.cert_pem(cert))
        certs.write_secret(Path(t.keyfile), certs.key_pem(key), force=True)
    return t


def each_broker(bundle: Path, tmp: Path, host=None, port=None, broker_dir=None, pki=None) -> list:
    """A target per broker the device tries (mqtt.hosts, in its order), or the one --host names."""
    from ..device.bundle import read_config
    cfg = read_config(bundle) or {}
    hosts = cfg.get("mqtt", {}).get("hosts")
    if host or not hosts:
        return [from_bundle(bundle, tmp, host, port, broker_dir, pki)]
    out = []
    for entry in hosts:
        t = from_bundle(bundle, tmp, entry.get("host"), port or entry.get("port"), broker_dir, pki)
        t.server_hostname = entry.get("name") or t.server_hostname
        out.append(t)
    return out


def temp_dir():
    """A private folder for a bundle's key as PEM while the check runs."""
    return tempfile.TemporaryDirectory(prefix="host_tools-check-")
