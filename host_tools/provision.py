"""Device bundles: the folder copied to a board (config.json, CA in DER, client keys)."""

import json
import shutil
from pathlib import Path

from . import certs

BUNDLE_ROOT = Path("build") / "devices"


def write_bundle(out_dir: Path, device_id: str, *, host: str, port: int, ca_der: Path,
                 user: str | None, password: str | None, tls_mode="ca", pins=(),
                 server_hostname=None, client_cert=None, client_key=None, board="unix",
                 mqtt_extra=None, node=None) -> Path:
    """Write config.json and the TLS files of one device; returns the bundle folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tls = {"mode": tls_mode, "ca": "ca.der", "pins": list(pins)}
    if server_hostname:
        tls["server_hostname"] = server_hostname
    shutil.copyfile(ca_der, out_dir / "ca.der")
    if client_cert and client_key:
        certs.write_public(out_dir / "client.der", certs.cert_der(certs.load_cert(client_cert)))
        key = certs.load_key(client_key)
        certs.write_secret(out_dir / "client.key.der", certs.key_der(key), force=True)
        tls["cert"], tls["key"] = "client.der", "client.key.der"
    mqtt = {"host": host, "port": port, "client_id": device_id}
    if user:
        mqtt["user"] = user
    if password is not None:
        mqtt["password"] = password
    mqtt.update(mqtt_extra or {})
    cfg = {"device_id": device_id, "board": board, "mqtt": mqtt, "tls": tls}
    if node:
        cfg["node"] = node
    # The config holds the device's password: owner-only, like a key.
    certs.write_secret(out_dir / "config.json", json.dumps(cfg, indent=1).encode(), force=True)
    return out_dir
