"""Device bundles: the folder copied to a board (config.json, CA in DER, client keys).

    build/devices/<id>/config.json      the device config (validated by firmware/node/config.py), 0600
    build/devices/<id>/ca.der           the CA the device checks the broker against
    build/devices/<id>/client.der       its client certificate (mutual TLS only)
    build/devices/<id>/client.key.der   its client key, PKCS#1 DER (mutual TLS only), 0600

The bundle is the record of a device: provisioning it again keeps its password, board, host and
Wi-Fi unless told otherwise, so `provision --all` can refresh every device's pins in a rotation.
"""

import importlib.util
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..pki import x509 as certs
from ..errors import UserError

BUNDLE_ROOT = Path("build") / "devices"
BOARDS = ("esp32", "esp8266", "unix")
TLS_MODES = ("ca", "pin", "ca+pin", "insecure")
# axTLS (ESP8266) cannot verify a chain, so those boards pin the broker's certificate.
DEFAULT_TLS_MODE = {"esp32": "ca", "unix": "ca", "esp8266": "pin"}
CLIENT_CERT, CLIENT_KEY = "client.der", "client.key.der"
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIRMWARE_CONFIG = Path(__file__).resolve().parents[2] / "firmware" / "node" / "config.py"


def write_bundle(out_dir: Path, device_id: str, *, host: str, port: int, ca_der: Path,
                 user: str | None, password: str | None, tls_mode="ca", pins=(),
                 server_hostname=None, client_cert=None, client_key=None, board="unix",
                 mqtt_extra=None, node=None, wifi=None) -> Path:
    """Write config.json and the TLS files of one device; returns the bundle folder."""
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
    """Validate with the firmware's own rules (firmware/node/config.py runs on CPython too)."""
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
        return json.loads(path.read_text())
    except ValueError:
        raise UserError(f"{path} is not valid JSON: provision the device again with --board") from None


def bundles(root: Path = BUNDLE_ROOT) -> dict:
    """device id -> its config.json, for every bundle under root."""
    found = {}
    root = Path(root)
    if root.is_dir():
        for path in sorted(root.glob("*/config.json")):
            cfg = read_config(path.parent)
            if cfg and cfg.get("device_id"):
                found[cfg["device_id"]] = cfg
    return found


def check_device_id(device_id: str):
    if not _DEVICE_ID.match(device_id or "") or ".." in device_id:
        raise UserError(f"device name {device_id!r} cannot be used: 1 to 64 letters, digits, '_', "
                        "'-' or '.', starting with a letter or digit (it becomes the MQTT user, "
                        "client id, topic prefix and a folder name)")


def check_wifi(ssid, password):
    if len(ssid.encode()) > 32:
        raise UserError(f"Wi-Fi name {ssid!r} is longer than 32 bytes: check --wifi-ssid")
    if password and not (8 <= len(password) <= 63 or re.fullmatch(r"[0-9a-fA-F]{64}", password)):
        raise UserError("WIFI_PASSWORD must have 8 to 63 characters (WPA2), or be empty for an open "
                        "network: fix it in the environment or .env")


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normalise_pin(pin: str) -> str:
    hexpin = pin.replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", hexpin):
        raise UserError(f"--pin {pin!r} is not a SHA-256 fingerprint: give 64 hex digits "
                        "(`certs show` prints them)")
    return hexpin


@dataclass
class Request:
    """What `provision DEVICE` was asked; None means "keep what the bundle has, else default"."""
    device_id: str
    board: str | None = None
    host: str | None = None
    port: int | None = None
    tls_mode: str | None = None
    mtls: bool | None = None
    server_hostname: str | None = None
    password: str | None = None       # given on stdin; None: keep the bundle's, else random
    new_password: bool = False
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    pins: list = field(default_factory=list)
    ca_file: Path | None = None
    key_type: str = "rsa"
    force: bool = False


@dataclass
class Result:
    bundle: Path
    cfg: dict
    password_generated: bool
    password_kept: bool
    client_cert_issued: bool
    reloaded: bool
    warnings: list


def provision(req: Request, *, pki, bdir, root: Path = BUNDLE_ROOT, env_settings=None) -> Result:
    check_device_id(req.device_id)
    bundle_dir = Path(root) / req.device_id
    old = read_config(bundle_dir) or {}
    old_mqtt, old_tls, old_wifi = old.get("mqtt", {}), old.get("tls", {}), old.get("wifi", {})
    broker_settings = bdir.settings()
    warnings = []

    board = req.board or old.get("board")
    if board is None:
        raise UserError(f"{req.device_id} is a new device: say which board it is with "
                        f"--board {'|'.join(BOARDS)}")
    if board not in BOARDS:
        raise UserError(f"unknown board {board!r}: use one of {', '.join(BOARDS)}")

    mode = req.tls_mode or (old_tls.get("mode") if old.get("board") == board else None) \
        or DEFAULT_TLS_MODE[board]
    if mode not in TLS_MODES:
        raise UserError(f"unknown TLS mode {mode!r}: use one of {', '.join(TLS_MODES)}")
    if board == "esp8266" and mode in ("ca", "ca+pin"):
        raise UserError(f"an esp8266 cannot check a certificate chain (its axTLS has no CA "
                        f"verification), so --tls-mode {mode} would not protect it: use "
                        "--tls-mode pin (the default for esp8266)")
    if mode == "insecure":
        warnings.append("TLS mode insecure: the device will not authenticate the broker, and "
                        "anyone in the middle can read its password; use ca or pin")

    # The broker's certificate(s): ours, unless an external CA is given with its pins.
    broker_certs = []
    if pki.broker_cert.exists():
        broker_certs.append(("broker certificate", pki.broker()))
        nxt = pki.next_broker()
        if nxt is not None:
            broker_certs.append(("next broker certificate", nxt))
    elif req.ca_file is None:
        raise UserError(f"no broker certificate in {pki.root}/: issue one with `python -m "
                        "host_tools certs broker --dns NAME`, or give --ca FILE (and --pin) for "
                        "a broker whose certificate you do not manage")

    if board == "esp8266":
        for label, cert in broker_certs:
            problems = certs.axtls_problems(cert)
            if problems:
                raise UserError(f"an esp8266 could not connect with the {label}: "
                                f"{'; '.join(problems)}: reissue it with "
                                "`certs broker --key-type rsa --force` (RSA 2048 is the default)")

    host = req.host or old_mqtt.get("host") or (env_settings.host if env_settings else None)
    if not host and broker_certs:
        names = certs.subject_alt_names(broker_certs[0][1])
        host = names[0] if names else None
    if not host:
        raise UserError("no broker host: give --host NAME (the name or address boards connect to)")
    if board != "unix" and _is_loopback(host):
        raise UserError(f"an {board} board cannot reach a broker at {host} (that is the board "
                        "itself): give the broker's network name or address with --host")
    port = req.port or old_mqtt.get("port") or (env_settings.port if env_settings else None) \
        or broker_settings["tls_port"]

    server_hostname = req.server_hostname if req.server_hostname is not None \
        else old_tls.get("server_hostname")
    checked_name = server_hostname or host
    if mode in ("ca", "ca+pin"):
        for label, cert in broker_certs:
            if not certs.matches_name(cert, checked_name):
                names = ", ".join(certs.subject_alt_names(cert)) or "no names"
                raise UserError(f"the {label} is for {names}, not {checked_name}: the device's "
                                f"hostname check would fail; connect with one of those names "
                                f"(--host or --server-hostname), or reissue it with "
                                f"`certs broker --dns {checked_name}` (or --ip)")

    pins = [certs.fingerprint_sha256(cert) for _, cert in broker_certs]
    pins += [p for p in (_normalise_pin(p) for p in req.pins) if p not in pins]
    if mode in ("pin", "ca+pin") and not pins:
        raise UserError("pin mode needs the broker's fingerprint: give --pin SHA256 (see `check`)")

    ca_source = Path(req.ca_file) if req.ca_file else pki.ca_der
    if not ca_source.exists():
        raise UserError(f"{ca_source} is missing: create the CA with `certs ca`, or give --ca FILE")

    mtls = req.mtls if req.mtls is not None else bool(old_tls.get("cert") or broker_settings["mtls"])
    client_cert = client_key = None
    issued = False
    if mtls:
        key_type = "rsa" if board == "esp8266" else req.key_type
        if board == "esp8266" and req.key_type != "rsa":
            raise UserError("an esp8266 loads only RSA client keys (axTLS): drop --key-type ec")
        if req.force or not pki.has_device(req.device_id):
            pki.issue_device(req.device_id, key_type=key_type, force=req.force)
            issued = True
        client_cert, client_key = pki.device_cert(req.device_id), pki.device_key(req.device_id)

    wifi = None
    if board != "unix":
        ssid = req.wifi_ssid or old_wifi.get("ssid") or (env_settings.wifi_ssid if env_settings else None)
        wifi_password = req.wifi_password if req.wifi_password is not None else old_wifi.get("password")
        if not ssid:
            raise UserError(f"an {board} board joins a Wi-Fi network: give --wifi-ssid NAME and put "
                            "its password in WIFI_PASSWORD (environment or .env)")
        check_wifi(ssid, wifi_password or "")
        if not wifi_password:
            warnings.append(f"no WIFI_PASSWORD: {ssid} is written as an open network")
        wifi = {"ssid": ssid, "password": wifi_password or ""}

    kept = False
    generated = False
    password = req.password
    if password is None and not req.new_password and old_mqtt.get("password"):
        password, kept = old_mqtt["password"], True
    if password is None:
        password, generated = secrets.token_urlsafe(18), True
    if not password:
        raise UserError("the password is empty: give one on stdin, or leave --password-stdin out "
                        "for a random one")

    cfg = {"device_id": req.device_id, "board": board,
           "mqtt": {"host": host, "port": port, "client_id": req.device_id,
                    "user": req.device_id, "password": password},
           "tls": {"mode": mode, "ca": "ca.der", "pins": pins}}
    if server_hostname:
        cfg["tls"]["server_hostname"] = server_hostname
    if mtls:
        cfg["tls"]["cert"], cfg["tls"]["key"] = CLIENT_CERT, CLIENT_KEY
    if wifi:
        cfg["wifi"] = wifi
    for section in ("node",):
        if section in old:
            cfg[section] = old[section]
    firmware_validate(json.loads(json.dumps(cfg)))

    write_bundle(bundle_dir, req.device_id, host=host, port=port, ca_der=ca_source,
                 user=req.device_id, password=password, tls_mode=mode, pins=pins,
                 server_hostname=server_hostname, client_cert=client_cert, client_key=client_key,
                 board=board, node=cfg.get("node"), wifi=wifi)
    bdir.add_user(req.device_id, password, "device")
    reloaded = bdir.reload()
    return Result(bundle_dir, cfg, generated, kept, issued, reloaded, warnings)

