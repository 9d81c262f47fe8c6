"""A Mosquitto on loopback with a fresh password file and ACL: for the tests and benchmarks.

Its ACL lets a device write anywhere under its own prefix (nodes/<id>/#, TEST_DEVICE_TOPICS)
and its own discovery configs, and client ids are free unless `bind_client_ids`: tests of the
firmware's MQTT client publish to topics of their own and log in twice as one device. The broker `broker config` writes for a
real deployment is stricter (broker/acl.py DEVICE_TOPICS, client ids bound to logins); the demo
and the host-tools tests run that one.
"""

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..broker import acl, passwd
from ..broker.process import Mosquitto, free_ports
from ..broker.conf import BrokerConfig
from ..pki import Pki

TEST_DEVICE_TOPICS = (("write", "nodes/{id}/#"), ("read", "nodes/{id}/cmd/#"),
                      ("write", "homeassistant/sensor/{id}/#"))


@dataclass
class LocalBroker:
    kind = "mosquitto"
    host: str
    tls_port: int
    plain_port: int | None
    pki: Pki
    workdir: Path
    users: dict                     # name -> clear password
    process: Mosquitto
    config: BrokerConfig
    devices: list = field(default_factory=list)

    @property
    def ca_der(self) -> Path:
        return self.pki.ca_der

    @property
    def ca_pem(self) -> Path:
        return self.pki.ca_cert

    def log_text(self) -> str:
        return self.process.log_text()

    def start(self, timeout=10.0):
        self.process.start(timeout)
        return self

    def stop(self, **kw):
        self.process.stop(**kw)

    def restart(self, **kw):
        self.process.restart(**kw)


def prepare(workdir: Path, pki: Pki, *, devices=(), monitors=(), users=None, tls_port=None,
            plain=False, certfile=None, keyfile=None, require_certificate=False,
            tls_version="tlsv1.2", autosave_interval=60, extra=(), device_topics=TEST_DEVICE_TOPICS,
            bind_client_ids=False) -> LocalBroker:
    """Write config, password file and ACL under workdir; start() runs the broker.

    Every device and monitor gets a random password unless `users` gives one.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    all_users = {name: secrets.token_urlsafe(16) for name in list(devices) + list(monitors)}
    all_users.update(users or {})
    ports = free_ports(2)
    if tls_port in ports:
        ports.remove(tls_port)
    config = BrokerConfig(
        tls_port=tls_port or ports[0],
        plain_port=ports[-1] if plain else None,
        bind_address="127.0.0.1",
        cafile=pki.ca_cert.resolve(),
        certfile=Path(certfile or pki.broker_cert).resolve(),
        keyfile=Path(keyfile or pki.broker_key).resolve(),
        password_file=workdir / "passwd",
        acl_file=workdir / "acl",
        persistence_dir=workdir / "data",
        require_certificate=require_certificate,
        tls_version=tls_version,
        autosave_interval=autosave_interval,
        bind_client_ids=bind_client_ids,
        log_file=workdir / "mosquitto.log",
        extra=list(extra),
    )
    config.persistence_dir.mkdir(exist_ok=True)
    passwd.write_password_file(config.password_file, all_users)
    config.acl_file.write_text(acl.merge(None, devices, monitors, device_topics))
    conf_path = workdir / "mosquitto.conf"
    conf_path.write_text(config.render())
    process = Mosquitto(conf_path, config.log_file)
    return LocalBroker("127.0.0.1", config.tls_port, config.plain_port, pki, workdir,
                       all_users, process, config, list(devices))
