"""`provision DEVICE`: a device's bundle and its broker login.

Every input is checked before anything is written: the name, the certificates and keys it
builds on, the host and port (wherever they came from), Wi-Fi, pins; then the firmware's own
validation of the config. Only then are the client certificate, the bundle and the login made.
"""

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..pki import checks
from ..pki import x509 as certs
from . import inputs
from .bundle import (BUNDLE_ROOT, CLIENT_CERT, CLIENT_KEY, firmware_validate, read_config,
                     write_bundle)
from .inputs import check_device_id  # noqa: F401 (the name other commands check with)

BOARDS = ("esp32", "esp8266", "unix")
TLS_MODES = ("ca", "pin", "ca+pin", "insecure")
# axTLS (ESP8266) cannot verify a chain, so those boards pin the broker's certificate.
DEFAULT_TLS_MODE = {"esp32": "ca", "unix": "ca", "esp8266": "pin"}


@dataclass
class Request:
    """What `provision DEVICE` was asked; None means "keep what the bundle has, else default"."""
    device_id: str
    board: str | None = None
    host: str | None = None
    port: int | None = None
    also_hosts: list | None = None    # more brokers, HOST[:PORT], tried after host (failover)
    tls_on_plain_port: bool = False
    tls_mode: str | None = None
    mtls: bool | None = None
    server_hostname: str | None = None
    password: str | None = None       # given on stdin; None: keep the bundle's, else random
    new_password: bool = False
    wifi_ssid: str | None = None
    wifi_password: str | None = None  # WIFI_PASSWORD; None when not set
    open_wifi: bool = False
    pins: list = field(default_factory=list)
    pin_kind: str | None = None       # "cert" or "key": what is pinned of the broker's certificate
    broker_cert: Path | None = None   # the certificate of a broker this PKI does not manage
    ca_file: Path | None = None
    key_type: str = "rsa"
    force: bool = False
    node: dict | None = None          # the node section (intervals...); None: keep the bundle's
    discovery: bool | None = None     # Home Assistant discovery; None: keep the bundle's (on)


@dataclass
class Result:
    bundle: Path
    cfg: dict
    password_generated: bool
    password_kept: bool
    client_cert_issued: bool
    outcome: str                      # what became of the broker's copy of the login
    warnings: list


def _host_and_port(req, old_mqtt, env, broker_settings, broker_certs):
    """(host, port), each checked where it came from; the port must be a TLS port."""
    from_env = False
    if req.host:
        host, host_from = req.host, "--host"
    elif old_mqtt.get("host"):
        host, host_from = old_mqtt["host"], "mqtt.host in the bundle"
    elif env is not None and env.host:
        host, host_from, from_env = env.host, env.origin.get("host", "MQTT_BROKER_HOST"), True
    else:
        names = certs.subject_alt_names(broker_certs[0][1]) if broker_certs else []
        host, host_from = (names[0], "the broker certificate's first name") if names else (None, None)
    if not host:
        raise UserError("no broker host: give --host NAME (the name or address boards connect to)")
    inputs.check_host(host, host_from)
    if req.port:
        port, port_from = req.port, "--port"
    elif old_mqtt.get("port"):
        return host, old_mqtt["port"]             # accepted when the bundle was made
    elif env is not None and env.port:
        port, port_from, from_env = env.port, env.origin.get("port", "MQTT_BROKER_PORT"), True
    else:
        port, port_from = broker_settings["tls_port"], "the broker's TLS port (`broker config --port`)"
    if from_env and env.use_tls is False:
        raise UserError(f"{env.origin.get('use_tls', 'MQTT_USE_TLS')} says false, and the node "
                        "speaks only TLS: set MQTT_USE_TLS=true (and the TLS port), or give "
                        "--host and --port")
    inputs.check_tls_port(port, port_from, req.tls_on_plain_port)
    return host, port


def _first_broker(old_mqtt):
    """A bundle's mqtt section as if it named one broker, and the brokers after the first."""
    hosts = old_mqtt.get("hosts")
    if not hosts:
        return old_mqtt, []
    first = dict(old_mqtt, host=hosts[0]["host"], port=hosts[0].get("port", old_mqtt.get("port")))
    return first, [(h["host"], h.get("port", first["port"]), None) for h in hosts[1:]]


def _more_brokers(req, old_more, port, server_hostname, mode, broker_certs):
    """The brokers tried after the first (--also-host, else the bundle's), each checked like
    --host: a host name or address, a TLS port, a name the broker certificate carries."""
    if req.also_hosts is None:
        return old_more
    more = []
    for text in filter(None, req.also_hosts):
        h, p = inputs.host_and_port(text, port, "--also-host")
        inputs.check_tls_port(p, f"--also-host {text}", req.tls_on_plain_port)
        if mode in ("ca", "ca+pin"):
            for label, cert in broker_certs:
                if not certs.matches_name(cert, server_hostname or h):
                    raise UserError(f"the {label} is not for {server_hostname or h} (--also-host "
                                    f"{text}): reissue it with `certs broker` naming every broker "
                                    "host (--dns/--ip, repeatable), or give --server-hostname")
        more.append((h, p, None))
    return more


def _broker_certs(req, pki):
    """([(label, certificate)], whether this PKI manages them): --broker-cert, else ours (the
    current one and the next of a rotation), else none (an external CA and --pin)."""
    if req.broker_cert:
        fix = "give the certificate the broker serves (PEM or DER), e.g. saved from " \
              "`openssl s_client -connect HOST:8883`"
        cert = certs.load_cert(req.broker_cert, fix)
        return [("broker's certificate (--broker-cert)", cert)], False
    if not pki.broker_cert.exists():
        if req.ca_file is None:
            raise UserError(f"no broker certificate in {pki.root}/: issue one with `python -m "
                            "host_tools certs broker --dns NAME`, or for a broker whose "
                            "certificate you do not manage give --ca FILE and its certificate "
                            "(--broker-cert FILE) or pins (--pin)")
        return [], False
    checks.broker(pki)
    found = [("broker certificate", pki.broker())]
    nxt = pki.next_broker()
    if nxt is not None:
        found.append(("next broker certificate", nxt))
    return found, True


def _pin_kind(req, managed, old_tls):
    """cert or key: as asked, else as the bundle had it (only key pins: key), else cert for
    our own broker (its rotation pins both certificates) and key for one managed elsewhere
    (a renewal there that keeps the key, as certbot --reuse-key does, keeps devices in)."""
    if req.pin_kind:
        return req.pin_kind
    old = old_tls.get("pins") or []
    if old and all(str(p).startswith(certs.KEY_PIN) for p in old):
        return "key"
    return "cert" if managed else "key"


def _pins(req, broker_certs, managed, old_tls, mode, warnings):
    """tls.pins: the broker certificates' (their fingerprints or their keys'), then --pin."""
    kind = _pin_kind(req, managed, old_tls)
    pin_of = certs.spki_pin if kind == "key" else certs.fingerprint_sha256
    pins = list(dict.fromkeys(pin_of(cert) for _, cert in broker_certs))
    given = [inputs.normalise_pin(p) for text in req.pins for p in text.split(";") if p.strip()]
    pins += [p for p in given if p not in pins]
    if mode not in ("pin", "ca+pin"):
        return pins
    if not pins:
        raise UserError("pin mode needs the broker's fingerprint: give its certificate "
                        "(--broker-cert FILE) or --pin (see `check`)")
    if req.pin_kind == "key" and not broker_certs and not any(
            p.startswith(certs.KEY_PIN) for p in pins):
        raise UserError("--pin-kind key pins the broker's public key, and there is no "
                        "certificate to take it from: give --broker-cert FILE, or --pin "
                        "sha256//BASE64 (`certs show FILE` prints it)")
    if not (managed or req.pin_kind == "cert" or any(p.startswith(certs.KEY_PIN) for p in pins)):
        warnings.append("the pins name the broker's certificate, which a renewal elsewhere "
                        "changes: pin its key instead (--broker-cert FILE, or --pin "
                        "sha256//BASE64 from `certs show FILE`) to keep the device connected")
    return pins


def provision(req: Request, *, pki, bdir, root: Path = BUNDLE_ROOT, env_settings=None) -> Result:
    check_device_id(req.device_id)
    bundle_dir = Path(root) / req.device_id
    old = read_config(bundle_dir) or {}
    old_mqtt, old_tls, old_wifi = old.get("mqtt", {}), old.get("tls", {}), old.get("wifi", {})
    old_mqtt, old_more = _first_broker(old_mqtt)
    broker_settings = bdir.settings()
    warnings = []
    bdir.check_new_login(req.device_id, "device", replace=True)

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

    broker_certs, managed = _broker_certs(req, pki)

    if board == "esp8266":
        for label, cert in broker_certs:
            problems = certs.axtls_problems(cert)
            if problems:
                raise UserError(f"an esp8266 could not connect with the {label}: "
                                f"{'; '.join(problems)}: reissue it with "
                                "`certs broker --key-type rsa --force` (RSA 2048 is the default)")

    host, port = _host_and_port(req, old_mqtt, env_settings, broker_settings, broker_certs)
    if board != "unix" and inputs.is_loopback(host):
        raise UserError(f"an {board} board cannot reach a broker at {host} (that is the board "
                        "itself): give the broker's network name or address with --host")

    server_hostname = req.server_hostname if req.server_hostname is not None \
        else old_tls.get("server_hostname")
    if server_hostname:
        inputs.check_host(server_hostname, "--server-hostname")
    checked_name = server_hostname or host
    if mode in ("ca", "ca+pin"):
        for label, cert in broker_certs:
            if not certs.matches_name(cert, checked_name):
                names = ", ".join(certs.subject_alt_names(cert)) or "no names"
                raise UserError(f"the {label} is for {names}, not {checked_name}: the device's "
                                f"hostname check would fail; connect with one of those names "
                                f"(--host or --server-hostname), or reissue it with "
                                f"`certs broker --dns {checked_name}` (or --ip)")

    more = _more_brokers(req, old_more, port, server_hostname, mode, broker_certs)

    pins = _pins(req, broker_certs, managed, old_tls, mode, warnings)

    ca_source = Path(req.ca_file) if req.ca_file else pki.ca_der
    if not ca_source.exists():
        raise UserError(f"{ca_source} is missing: create the CA with `certs ca`, or give --ca FILE")
    certs.load_cert(ca_source, "give the CA's certificate file (PEM or DER) with --ca")

    mtls = req.mtls if req.mtls is not None else bool(old_tls.get("cert") or broker_settings["mtls"])
    if mtls:
        if board == "esp8266" and req.key_type != "rsa":
            raise UserError("an esp8266 loads only RSA client keys (axTLS): drop --key-type ec")
        if req.force or not pki.has_device(req.device_id):
            pki.load_ca()               # it signs the client certificate

    wifi = None
    if board != "unix":
        ssid = req.wifi_ssid or (env_settings.wifi_ssid if env_settings else None)
        wifi = inputs.wifi(ssid, req.wifi_password, old_wifi, req.open_wifi, board)
        if wifi["password"] == "":
            warnings.append(f"{wifi['ssid']} is written as an open network (no Wi-Fi password)")

    kept = generated = False
    password = req.password
    if password is None and not req.new_password and old_mqtt.get("password"):
        password, kept = old_mqtt["password"], True
    if password is None:
        password, generated = secrets.token_urlsafe(18), True
    if not password:
        raise UserError("the password is empty: give one on stdin, or leave --password-stdin out "
                        "for a random one")

    discovery = req.discovery if req.discovery is not None else old_mqtt.get("discovery", True)
    cfg = {"device_id": req.device_id, "board": board,
           "mqtt": {"host": host, "port": port, "client_id": req.device_id,
                    "user": req.device_id, "password": password, "discovery": discovery},
           "tls": {"mode": mode, "ca": "ca.der", "pins": pins}}
    hosts = [(host, port, None)] + more if more else None
    if hosts:
        del cfg["mqtt"]["host"]
        cfg["mqtt"]["hosts"] = [{"host": h, "port": p} for h, p, _ in hosts]
    if server_hostname:
        cfg["tls"]["server_hostname"] = server_hostname
    if mtls:
        cfg["tls"]["cert"], cfg["tls"]["key"] = CLIENT_CERT, CLIENT_KEY
    if wifi:
        cfg["wifi"] = wifi
    node = req.node if req.node is not None else old.get("node")
    if node:
        cfg["node"] = node
    firmware_validate(json.loads(json.dumps(cfg)))

    # Everything is checked: now the writing.
    issued = False
    client_cert = client_key = None
    if mtls:
        if req.force or not pki.has_device(req.device_id):
            pki.issue_device(req.device_id, key_type="rsa" if board == "esp8266" else req.key_type,
                             force=req.force)
            issued = True
        client_cert, client_key = pki.device_cert(req.device_id), pki.device_key(req.device_id)
    write_bundle(bundle_dir, req.device_id, host=host, port=port, ca_der=ca_source,
                 user=req.device_id, password=password, tls_mode=mode, pins=pins,
                 server_hostname=server_hostname, client_cert=client_cert, client_key=client_key,
                 board=board, node=cfg.get("node"), wifi=wifi, hosts=hosts,
                 mqtt_extra={"discovery": discovery})
    bdir.add_login(req.device_id, password, "device", replace=True)
    outcome = bdir.apply(pki, f"provision {req.device_id}")
    return Result(bundle_dir, cfg, generated, kept, issued, outcome, warnings)
