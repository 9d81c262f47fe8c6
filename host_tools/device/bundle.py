"""Device bundles: the folder copied to a board (config.json, CA in DER, client keys).

    build/devices/<id>/config.json      the device config (validated by firmware/node/config.py), 0600
    build/devices/<id>/ca.der           the CA the device checks the broker against
    build/devices/<id>/client.der       its client certificate (mutual TLS only)
    build/devices/<id>/client.key.der   its client key, PKCS#1 DER (mutual TLS only), 0600

The bundle is the record of a device: provisioning it again keeps its password, board, host and
Wi-Fi unless told otherwise, so `provision --all` can refresh every device's pins in a rotation.
"""

import importlib.util
import json
from pathlib import Path

from ..errors import UserError
from ..pki import x509 as certs
from ..repo import FIRMWARE

BUNDLE_ROOT = Path("build") / "devices"
CLIENT_CERT, CLIENT_KEY = "client.der", "client.key.der"
# The firmware's own validation, loaded by path: the module runs on CPython too.
_FIRMWARE_CONFIG = FIRMWARE / "node" / "config.py"


def write_bundle(out_dir: Path, device_id: str, *, host: str, port: int, ca_der: Path,
                 user: str | None, password: str | None, tls_mode="ca", pins=(),
                 server_hostname=None, client_cert=None, client_key=None, board="unix",
                 mqtt_extra=None, node=None, wifi=None, hosts=None) -> Path:
    """Write config.json and the TLS files of one device; returns the bundle folder.

    hosts: several brokers [(host, port, the name its certificate carries or None)], tried in
    order by the node (mqtt.hosts) in place of host and port."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tls = {"mode": tls_mode, "ca": "ca.der", "pins": list(pins)}
    if server_hostname:
        tls["server_hostname"] = server_hostname
    ca_bytes = Path(ca_der).read_bytes()
    if ca_bytes.lstrip().startswith(b"-----"):
        ca_bytes = certs.cert_der(certs.load_cert(ca_der))
    certs.write_public(out_dir / "ca.der", ca_bytes)
    if client_cert and client_key:
        certs.write_public(out_dir / CLIENT_CERT, certs.cert_der(certs.load_cert(client_cert)))
        key = certs.load_key(client_key)
        certs.write_secret(out_dir / CLIENT_KEY, certs.key_der(key), force=True)
        tls["cert"], tls["key"] = CLIENT_CERT, CLIENT_KEY
    else:
        # A device provisioned again without mutual TLS keeps no stale key.
        for stale in (CLIENT_CERT, CLIENT_KEY):
            (out_dir / stale).unlink(missing_ok=True)
    mqtt = {"host": host, "port": port, "client_id": device_id}
    if hosts:
        del mqtt["host"]
        mqtt["hosts"] = [dict({"host": h, "port": p}, **({"name": n} if n else {}))
                         for h, p, n in hosts]
    if user:
        mqtt["user"] = user
    if password is not None:
        mqtt["password"] = password
    mqtt.update(mqtt_extra or {})
    cfg = {"device_id": device_id, "board": board, "mqtt": mqtt, "tls": tls}
    if node:
        cfg["node"] = node
    if wifi:
        cfg["wifi"] = wifi
    # The config holds the device's password: owner-only, like a key.
    certs.write_secret(out_dir / "config.json", json.dumps(cfg, indent=1).encode(), force=True)
    return out_dir


def firmware_validate(cfg: dict) -> dict:
    """Validate with the firmware's own rules (firmware/node/config.py)."""
    spec = importlib.util.spec_from_file_location("_node_config", _FIRMWARE_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.validate(cfg)
    except ValueError as exc:
        raise UserError(str(exc).replace("; fix it with `host_tools provision`", "") +
                        ": fix the option that sets it") from None


def read_config(bundle_dir: Path) -> dict | None:
    path = Path(bundle_dir) / "config.json"
    if not path.exists():
        return None
    try:
        cfg = json.loads(path.read_text())
    except ValueError:
        cfg = None
    if not isinstance(cfg, dict):
        raise UserError(f"{path} is not valid JSON: provision the device again with --board")
    return cfg


def bundle_dirs(root: Path = BUNDLE_ROOT) -> list:
    """Every folder under root that holds a config.json, readable or not."""
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/config.json")) if root.is_dir() else []


def bundles(root: Path = BUNDLE_ROOT) -> dict:
    """device id -> its config.json, for every readable bundle under root."""
    found = {}
    for folder in bundle_dirs(root):
        try:
            cfg = read_config(folder)
        except UserError:
            continue
        if cfg.get("device_id"):
            found[cfg["device_id"]] = cfg
    return found
