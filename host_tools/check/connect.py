"""The connection steps of `check`: TCP, then the TLS handshake the device would make, watched
as it passes (tlswire), then the handshake an ESP8266 would make. No credentials go out here."""

import ipaddress
import socket
import ssl

from ..pki import x509 as certs
from . import diagnosis as diag
from . import tlswire


def tcp(t, report, timeout):
    where = f"{t.host}:{t.port}"
    try:
        sock = socket.create_connection((t.host, t.port), timeout=timeout)
    except socket.gaierror as exc:
        diag.no_such_host(report, t.host, exc)
        return None
    except ConnectionRefusedError:
        diag.refused(report, where)
        return None
    except (socket.timeout, TimeoutError):
        diag.timed_out(report, where, timeout, t.port)
        return None
    except OSError as exc:
        diag.unreachable(report, where, exc)
        return None
    sock.settimeout(timeout)
    diag.tcp_ok(report, where)
    return sock


def context(t, axtls=False, verify=True, anchor_der=None):
    """The device's TLS: 1.2, its CA (or none: pin and insecure modes), its client certificate.
    With `anchor_der` the only certificate trusted is that one (the broker's, already checked
    as the device would check it), so a later connection talks to the same broker."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Boards speak TLS 1.2; it also keeps the broker's certificates readable on the wire.
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if axtls:
        ctx.set_ciphers(tlswire.AXTLS_CIPHERS)
    if anchor_der is not None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        ctx.load_verify_locations(cadata=anchor_der)
    elif t.mode in ("ca", "ca+pin") and verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = True
        if t.ca_certs:
            ctx.load_verify_locations(cadata="".join(certs.cert_pem(c).decode() for c in t.ca_certs))
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if t.certfile:
        try:
            ctx.load_cert_chain(t.certfile, t.keyfile)
        except (ssl.SSLError, OSError) as exc:
            raise diag.bad_client_certificate(t, exc) from None
    return ctx


def _sni(t):
    name = t.checked_name
    try:
        ipaddress.ip_address(name)
        return name if t.mode in ("ca", "ca+pin") else None
    except ValueError:
        return name


def speaks_tls(t, timeout) -> bool:
    try:
        sock = socket.create_connection((t.host, t.port), timeout=timeout)
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


def tls_handshake(t, report, timeout, plain_probe):
    """The device's handshake; returns the broker's certificate (DER) when the device would go
    on to log in, else None. The connection is closed either way."""
    sock = tcp(t, report, timeout)
    if sock is None:
        return None
    # An ESP8266 offers only axTLS's suites; the check offers what the device would.
    conn = tlswire.TlsConn(sock, context(t, axtls=t.board == "esp8266"), server_hostname=_sni(t))
    try:
        conn.handshake()
    except ssl.SSLCertVerificationError as exc:
        chain = diag.load_chain(conn.seen.chain)
        report.chain = chain
        diag.print_chain(chain, report)
        diag.explain_untrusted(chain, t, exc.verify_message, report)
        conn.close()
        return None
    except (ssl.SSLError, OSError, EOFError) as exc:
        seen = conn.seen
        conn.close()
        diag.explain_handshake_failure(exc, seen, t, report, plain_probe)
        return None
    diag.tls_ok(report, conn.tls.version(), conn.tls.cipher()[0])
    chain = diag.load_chain(conn.seen.chain)
    if not chain and conn.peer_der:
        chain = diag.load_chain([conn.peer_der])
    cert_request = conn.seen.cert_request
    conn.close()
    report.chain = chain
    diag.print_chain(chain, report)
    if conn.seen.cert_records > 1:
        diag.certificate_fragmented(report, conn.seen.cert_records, conn.seen.cert_bytes)
    if not chain:
        return None
    if t.mode in ("ca", "ca+pin"):
        diag.trusted(report, t)
    elif t.mode == "insecure":
        diag.insecure(report)
    if t.mode in ("pin", "ca+pin"):
        seen = [certs.fingerprint_sha256(chain[0]), certs.spki_pin(chain[0])]
        match = [p for p in seen if p in t.pins]
        if not match:
            diag.pin_mismatch(report, seen, t.pins)
            return None
        diag.pinned(report, t.pins.index(match[0]), len(t.pins), match[0] == seen[1])
    if cert_request:
        diag.client_certificate_asked(report, bool(t.certfile))
    return certs.cert_der(chain[0])


def esp8266(t, report, timeout, required: bool):
    """The handshake an ESP8266 makes: TLS 1.2, only axTLS's RSA key exchange suites."""
    try:
        sock = socket.create_connection((t.host, t.port), timeout=timeout)
    except OSError:
        return
    sock.settimeout(timeout)
    conn = tlswire.TlsConn(sock, context(t, axtls=True, verify=False), server_hostname=None)
    try:
        conn.handshake()
        error = None
    except (ssl.SSLError, OSError, EOFError) as exc:
        error = exc
    seen = conn.seen
    conn.close()
    # With no suite in common the broker sends no certificate; judge the one the device saw.
    chain = diag.load_chain(seen.chain) or report.chain
    problems = [p for c in chain for p in certs.axtls_problems(c)]
    if seen.cert_records > 1 and not problems:
        diag.esp8266_fragmented(report, required, seen.cert_records)
        return
    if seen.suite in tlswire.AXTLS_SUITES and not problems:
        key = certs.key_description(chain[0].public_key()) if chain else "its"
        diag.esp8266(report, True, required, seen.suite_name, key, stopped=error is not None)
        return
    why = "; ".join(dict.fromkeys(problems)) or f"no suite in common ({seen.alert_name or error})"
    diag.esp8266(report, False, required, why=why, cert_problem=bool(problems))
