"""`check`: connect to a broker the way a device would, and say case by case what is wrong.

The cases are those of the usual troubleshooting sections: connection refused, a port that
does not speak TLS, a certificate the device would not trust (and why: CA, dates, name, pin),
a client certificate the broker requires, a wrong user or password, topics the ACL does not
allow. It also prints the chain the broker sends, and tries the handshake an ESP8266 would
make (axTLS: TLS 1.2, RSA key exchange suites only).

Nothing secret is sent before the broker is authenticated as the device would authenticate it;
a check that fails stops where the device would stop.
"""

import ipaddress
import secrets
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from ..pki import x509 as certs
from . import diagnosis as checkdiag
from . import mqttwire, tlswire
from ..errors import UserError

STATUS = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "info": "    "}


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
    passwd_file: Path | None = None                 # the broker's, when it is local
    acl_file: Path | None = None

    @property
    def checked_name(self):
        return self.server_hostname or self.host


@dataclass
class Finding:
    status: str
    code: str
    text: str
    fix: str | None = None


class Report:
    def __init__(self, out=print):
        self.findings = []
        self.chain = []            # the broker's certificates, as the device's handshake saw them
        self._out = out

    def add(self, status, code, text, fix=None):
        self.findings.append(Finding(status, code, text, fix))
        self._out(f"{STATUS[status]} {text}")
        if fix:
            self._out(f"       -> {fix}")

    @property
    def failures(self):
        return [f for f in self.findings if f.status == "fail"]

    def codes(self, status=None):
        return [f.code for f in self.findings if status is None or f.status == status]


# Connections ------------------------------------------------------------------------------

def _tcp(target, report, timeout):
    where = f"{target.host}:{target.port}"
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except socket.gaierror as exc:
        report.add("fail", "no_such_host", f"cannot resolve {target.host} ({exc.strerror})",
                   "check the host name (--host, MQTT_BROKER_HOST), or use its IP address")
        return None
    except ConnectionRefusedError:
        report.add("fail", "refused", f"connection refused by {where}: nothing listens on that port",
                   "start the broker (`python -m host_tools broker run`), and check the port: 8883 "
                   "for TLS, 1883 plain; the listener lines in mosquitto.conf; a firewall")
        return None
    except (socket.timeout, TimeoutError):
        report.add("fail", "timeout", f"no answer from {where} within {timeout:g} s",
                   f"check the address, and that a firewall lets TCP port {target.port} through")
        return None
    except OSError as exc:
        report.add("fail", "unreachable", f"cannot reach {where}: {exc.strerror or exc}",
                   "check the address and the network between here and the broker")
        return None
    sock.settimeout(timeout)
    report.add("ok", "tcp", f"TCP connection to {where}")
    return sock


def _context(target, axtls=False, verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Boards speak TLS 1.2; it also keeps the broker's certificates readable on the wire.
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if axtls:
        ctx.set_ciphers(tlswire.AXTLS_CIPHERS)
    if target.mode in ("ca", "ca+pin") and verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = True
        if target.ca_certs:
            ctx.load_verify_locations(cadata="".join(certs.cert_pem(c).decode() for c in target.ca_certs))
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if target.certfile:
        try:
            ctx.load_cert_chain(target.certfile, target.keyfile)
        except (ssl.SSLError, OSError) as exc:
            raise UserError(f"cannot load the client certificate {target.certfile} with key "
                            f"{target.keyfile} ({exc}): check MQTT_CERTFILE/MQTT_KEYFILE belong "
                            "together") from None
    return ctx


def _sni(target):
    name = target.checked_name
    try:
        ipaddress.ip_address(name)
        return name if target.mode in ("ca", "ca+pin") else None
    except ValueError:
        return name


# The checks -------------------------------------------------------------------------------

def _plain_probe(target, timeout) -> bool:
    """Whether the port answers a plain MQTT CONNECT (no credentials are sent)."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            conn = tlswire.PlainConn(sock)
            conn.send(mqttwire.connect("host-tools-probe"))
            ptype, _, _ = mqttwire.read_packet(conn)
            return ptype == mqttwire.CONNACK
    except (OSError, EOFError, mqttwire.ProtocolError):
        return False


def _speaks_tls(target, timeout) -> bool:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError:
        return False
    sock.settimeout(timeout)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = tlswire.TlsConn(sock, ctx)
    try:
        conn.handshake()
    except (ssl.SSLError, OSError, EOFError):
        pass
    conn.close()
    return conn.seen.version is not None


def _tls_connect(target, report, timeout):
    sock = _tcp(target, report, timeout)
    if sock is None:
        return None
    # An ESP8266 offers only axTLS's suites; the check offers what the device would.
    conn = tlswire.TlsConn(sock, _context(target, axtls=target.board == "esp8266"),
                           server_hostname=_sni(target))
    try:
        conn.handshake()
    except ssl.SSLCertVerificationError as exc:
        chain = checkdiag.load_chain(conn.seen.chain)
        report.chain = chain
        checkdiag.print_chain(chain, report)
        checkdiag.explain_untrusted(chain, target, exc.verify_message, report)
        conn.close()
        return None
    except (ssl.SSLError, OSError, EOFError) as exc:
        seen = conn.seen
        conn.close()
        checkdiag.explain_handshake_failure(exc, seen, target, report,
                                            lambda: _plain_probe(target, timeout))
        return None
    report.add("ok", "tls", f"TLS handshake: {conn.tls.version()}, {conn.tls.cipher()[0]}")
    chain = checkdiag.load_chain(conn.seen.chain)
    if not chain and conn.peer_der:
        chain = checkdiag.load_chain([conn.peer_der])
    report.chain = chain
    checkdiag.print_chain(chain, report)
    if target.mode in ("ca", "ca+pin"):
        report.add("ok", "trusted", f"the certificate is trusted: signed by {target.ca_label}, "
                   f"in date, issued for {target.checked_name}")
    elif target.mode == "insecure":
        report.add("warn", "insecure", "TLS without checking the broker (insecure): anyone in the "
                   "middle could read the password", "use the CA (MQTT_CA_CERTS, tls mode ca) or a pin")
    if target.mode in ("pin", "ca+pin"):
        fingerprint = certs.fingerprint_sha256(chain[0]) if chain else None
        if fingerprint not in target.pins:
            report.add("fail", "pin_mismatch",
                       f"the broker's certificate (SHA-256 {fingerprint}) matches none of the "
                       f"device's {len(target.pins)} pin(s): {', '.join(p[:16] + '...' for p in target.pins)}",
                       "the broker's certificate changed: provision the device again (it pins the "
                       "current and the next certificate) and copy its bundle to the board")
            conn.close()
            return None
        report.add("ok", "pinned", f"the certificate matches pin {target.pins.index(fingerprint) + 1} "
                   f"of {len(target.pins)}")
    if conn.seen.cert_request:
        report.add("info", "mtls", "the broker asks for a client certificate (mutual TLS)"
                   + (": one was sent" if target.certfile else ""))
    return conn


def _login(conn, target, report):
    # Never the device's own client id: a clean-session login under it would end the device's
    # connection and drop its persistent session with the messages queued for it.
    base = (target.client_id or target.username or "host")[:40]
    client_id = f"{base}-check-{secrets.token_hex(3)}"
    try:
        conn.send(mqttwire.connect(client_id, target.username, target.password))
        ptype, _, body = mqttwire.read_packet(conn)
    except (OSError, EOFError, ssl.SSLError, mqttwire.ProtocolError) as exc:
        report.add("fail", "no_connack", f"the broker closed the connection without answering "
                   f"CONNECT ({exc})", "see the broker's log: it says why it dropped the client")
        return False
    if ptype != mqttwire.CONNACK or len(body) < 2:
        report.add("fail", "not_mqtt", f"the answer to CONNECT is not a CONNACK (type {ptype})",
                   "check the port belongs to an MQTT broker")
        return False
    code = body[1]
    if code == 0:
        report.add("ok", "login", f"logged in as {target.username or '(anonymous)'}")
        return True
    meaning = mqttwire.CONNACK_CODES.get(code, "unknown code")
    if code in (4, 5):
        if target.username is None:
            report.add("fail", "needs_login", f"the broker refused an anonymous login (code {code}, "
                       f"{meaning})", "set MQTT_USERNAME and MQTT_PASSWORD, or check the device's bundle")
            return False
        checkdiag.explain_login(code, meaning, target, report)
        return False
    report.add("fail", "refused_login", f"the broker refused the connection: code {code}, {meaning}",
               "see the broker's log")
    return False


def _topics(conn, target, report, timeout):
    """A device may write nodes/<id>/# and read nodes/<id>/cmd/#, and nothing of other nodes.

    Mosquitto grants every subscription and filters each message by the ACL, so the test is a
    round trip: publish to another node's command topic, then to our own; our own must come
    back, and the other must not have come back before it (the broker keeps the order).
    """
    prefix = f"nodes/{target.device_id}"
    own = f"{prefix}/cmd/host-check"
    foreign = "nodes/host-check-other-node/cmd/host-check"
    token = secrets.token_hex(8).encode()
    stage = "subscribe"
    try:
        conn.send(mqttwire.subscribe(1, "nodes/+/cmd/host-check"))
        while True:
            ptype, flags, body = mqttwire.read_packet(conn)
            if ptype == mqttwire.SUBACK:
                break
        if body[2] == 0x80:
            report.add("fail", "acl_read", f"{target.username} may not subscribe to its command "
                       f"topics {prefix}/cmd/#", "provision the device (adds its block to the ACL) "
                       "and reload the broker" + checkdiag.acl_hint(target))
            return
        stage = "round trip"
        conn.send(mqttwire.publish(foreign, b"host_tools check " + token))
        conn.send(mqttwire.publish(own, b"host_tools check " + token, packet_id=7))
        leaked = back = acked = False
        while not back:
            try:
                ptype, flags, body = mqttwire.read_packet(conn)
            except (socket.timeout, TimeoutError):
                if acked:
                    break
                raise
            if ptype == mqttwire.PUBACK:
                # Mosquitto queues the copy for its subscribers before it sends the PUBACK; a
                # short grace covers brokers that do not.
                acked = True
                conn.sock.settimeout(min(1.0, timeout))
            elif ptype == mqttwire.PUBLISH:
                topic, payload = mqttwire.parse_publish(flags, body)
                if payload.endswith(token):
                    leaked = leaked or topic == foreign
                    back = topic == own
        conn.sock.settimeout(timeout)
        if not back:
            report.add("fail", "acl_denied", f"a test message to {own} did not come back: the ACL "
                       f"does not let {target.username} write under {prefix}/ or read {prefix}/cmd/",
                       "provision the device (adds its block to the ACL) and reload the broker"
                       + checkdiag.acl_hint(target))
            return
        report.add("ok", "acl_own", f"may publish under {prefix}/ and read {prefix}/cmd/ "
                   "(a test message came back)")
        if leaked:
            report.add("warn", "acl_open", f"{target.username} may also write and read another "
                       "node's topics", "use the ACL `broker config` writes: each device writes only "
                       "under nodes/<id>/ and reads only nodes/<id>/cmd/")
        else:
            report.add("ok", "acl_others", "may not write or read another node's command topics")
    except (socket.timeout, TimeoutError):
        report.add("fail", "dropped", f"no answer from the broker during the topic check ({stage})",
                   "see the broker's log")
    except (OSError, EOFError, ssl.SSLError, mqttwire.ProtocolError) as exc:
        report.add("fail", "dropped", f"the broker closed the connection during the topic check ({exc})",
                   "see the broker's log")


def _esp8266(target, report, timeout, required: bool):
    """The handshake an ESP8266 makes: TLS 1.2, only axTLS's RSA key exchange suites."""
    bad = "fail" if required else "warn"
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError:
        return
    sock.settimeout(timeout)
    conn = tlswire.TlsConn(sock, _context(target, axtls=True, verify=False), server_hostname=None)
    try:
        conn.handshake()
        error = None
    except (ssl.SSLError, OSError, EOFError) as exc:
        error = exc
    seen = conn.seen
    conn.close()
    # With no suite in common the broker sends no certificate; judge the one the device saw.
    chain = checkdiag.load_chain(seen.chain) or report.chain
    problems = [p for c in chain for p in certs.axtls_problems(c)]
    if seen.suite in tlswire.AXTLS_SUITES and not problems:
        key = certs.key_description(chain[0].public_key()) if chain else "its"
        suffix = "" if error is None else " (the handshake then stopped for lack of a client certificate)"
        report.add("ok", "esp8266_ok", f"an ESP8266 could connect: TLS 1.2 with "
                   f"{seen.suite_name} and the broker's {key} key{suffix}")
        return
    why = "; ".join(dict.fromkeys(problems)) or f"no suite in common ({seen.alert_name or error})"
    report.add(bad, "esp8266_no", f"an ESP8266 could not connect: the broker's certificate: {why}"
               if problems else f"an ESP8266 could not connect: {why}",
               "give the broker an RSA certificate from an RSA CA: `certs broker --key-type rsa "
               "--force` (RSA 2048 is the default), then restart the broker")


def run(target: Target, timeout=5.0, out=print) -> Report:
    report = Report(out)
    mode = target.mode if target.tls else "plain"
    report.add("info", "target", f"checking {target.host}:{target.port} "
               + (f"as device {target.device_id} ({target.board or 'board?'}, tls {mode})"
                  if target.device_id else f"(tls {mode})"))
    if target.tls:
        conn = _tls_connect(target, report, timeout)
    else:
        sock = _tcp(target, report, timeout)
        conn = tlswire.PlainConn(sock) if sock else None
        if conn and not _plain_probe(target, timeout):
            conn.close()
            conn = None
            if _speaks_tls(target, timeout):
                report.add("fail", "expects_tls", f"{target.host}:{target.port} expects TLS, not "
                           "plain MQTT", "set MQTT_USE_TLS=true (and MQTT_CA_CERTS to the CA file)")
            else:
                report.add("fail", "not_mqtt", f"{target.host}:{target.port} did not answer MQTT",
                           "check the port belongs to the broker (1883 plain, 8883 TLS)")
        if conn:
            report.add("warn", "plain", "plain MQTT: the password crosses the network in clear",
                       "use the TLS listener (8883) with MQTT_USE_TLS=true")
    if conn is not None:
        try:
            if _login(conn, target, report):
                if target.device_id:
                    _topics(conn, target, report, timeout)
                else:
                    report.add("info", "acl_skipped", "give --device NAME to check a device's topics")
                try:
                    conn.send(mqttwire.disconnect())
                except (OSError, ssl.SSLError):
                    pass
        finally:
            conn.close()
    if target.tls and not any(f.code in ("refused", "timeout", "no_such_host", "unreachable",
                                          "not_tls", "no_tls") for f in report.findings):
        _esp8266(target, report, timeout, required=target.board == "esp8266")
    return report


# Targets ----------------------------------------------------------------------------------

def _read_cas(path) -> list:
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise UserError(f"{path} holds no certificate ({exc}): point it at the CA file") from None


def from_settings(settings, host=None, port=None, broker_dir=None) -> Target:
    host = host or settings.host
    if not host:
        raise UserError("no broker to check: give --host NAME, or set MQTT_BROKER_HOST")
    tls = settings.tls if port is None or settings.use_tls is not None else port != 1883
    t = Target(host=host, port=port or settings.effective_port(), tls=tls,
               mode="insecure" if settings.tls_insecure else "ca",
               username=settings.username, password=settings.password,
               client_id=settings.client_id, certfile=settings.certfile, keyfile=settings.keyfile)
    if settings.ca_certs:
        if not Path(settings.ca_certs).exists():
            raise UserError(f"MQTT_CA_CERTS={settings.ca_certs} does not exist: point it at the CA file")
        t.ca_certs = _read_cas(settings.ca_certs)
        t.ca_label = settings.ca_certs
    if bool(settings.certfile) != bool(settings.keyfile):
        raise UserError("give both MQTT_CERTFILE and MQTT_KEYFILE for a client certificate, or neither")
    _local_broker(t, broker_dir)
    return t


def from_bundle(bundle: Path, tmp: Path, host=None, port=None, broker_dir=None) -> Target:
    from ..device.provision import read_config
    cfg = read_config(bundle)
    if cfg is None:
        raise UserError(f"no device bundle in {bundle}: provision it with `provision {bundle.name} --board ...`")
    mqtt, tls = cfg.get("mqtt", {}), cfg.get("tls", {})
    t = Target(host=host or mqtt.get("host"), port=port or mqtt.get("port", 8883),
               mode=tls.get("mode", "ca"), pins=[p.replace(":", "").lower() for p in tls.get("pins", [])],
               # The device checks the name it was given, wherever this check connects to.
               server_hostname=tls.get("server_hostname") or mqtt.get("host"),
               username=mqtt.get("user"), password=mqtt.get("password"),
               device_id=cfg.get("device_id"), board=cfg.get("board"))
    ca = Path(bundle) / tls.get("ca", "ca.der")
    if ca.exists():
        t.ca_certs, t.ca_label = _read_cas(ca), str(ca)
    if tls.get("cert") and tls.get("key"):
        cert = certs.load_cert(Path(bundle) / tls["cert"])
        key = certs.load_key(Path(bundle) / tls["key"])
        t.certfile, t.keyfile = str(tmp / "client.pem"), str(tmp / "client.key")
        certs.write_public(Path(t.certfile), certs.cert_pem(cert))
        certs.write_secret(Path(t.keyfile), certs.key_pem(key), force=True)
    _local_broker(t, broker_dir)
    return t


def _local_broker(t, broker_dir):
    if broker_dir and Path(broker_dir).is_dir():
        t.passwd_file = Path(broker_dir) / "passwd"
        t.acl_file = Path(broker_dir) / "acl"


def temp_dir():
    """A private folder for a bundle's key as PEM while the check runs."""
    return tempfile.TemporaryDirectory(prefix="host_tools-check-")
