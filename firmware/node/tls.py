# TLS for the MQTT client, made from the "tls" section of the device config.
#
#   from node.tls import make_context
#   ctx = make_context(cfg["tls"], base_dir)     # once; reused for every connection
#   MQTTClient(..., ssl=ctx)                     # calls ctx.wrap_socket(sock, server_hostname=...)
#
# The section: {"mode": "ca" | "pin" | "ca+pin" | "insecure", "ca": "ca.der",
#               "pins": [hex SHA-256 of the broker certificate, ...],
#               "cert": "client.der" or None, "key": "client.key.der" or None,
#               "server_hostname": None or the name the broker certificate carries}
#   ca        the broker's chain, dates and name are checked against the CA (mbedtls: ESP32,
#             unix); axTLS (ESP8266) cannot do this and make_context says so
#   pin       the broker's leaf certificate must hash to one of the pins (keep two during a
#             rotation): mbedtls checks it in its verify callback, on axTLS node.tlspin reads
#             the handshake as it passes
#   ca+pin    both
#   insecure  nothing is checked: only when asked for, with a warning on every connect
# cert/key    a client certificate and key in DER (mutual TLS): RSA keys as PKCS#1,
#             EC keys as SEC1 (axTLS loads RSA only).
# Files are relative to base_dir. Bad config raises ValueError naming the key.
#
# The broker is authenticated inside wrap_socket, before the MQTT client writes a byte of
# CONNECT (which carries the password). A refusal raises TLSError (a ValueError) whose message
# names the cause and the fix (node.tlsexplain, imported only then); network faults stay
# OSError.
import hashlib
from micropython import const

try:
    import tls
except ImportError:         # MicroPython before 1.23
    import ssl as tls

_X509_FATAL = const(-0x3000)     # MBEDTLS_ERR_X509_FATAL_ERROR: ends the handshake
_LEAD = const(512)               # bytes kept of the leaf: its issuer and subject, to explain
REPROVISION = "provision the device again (`host_tools provision`)"


class TLSError(ValueError):
    """The broker could not be authenticated, or did not speak TLS; the message says why."""


def _read(base_dir, name, key):
    try:
        with open(base_dir + "/" + name, "rb") as f:
            return f.read()
    except OSError:
        raise ValueError("tls.%s: no file %s in %s: %s" % (key, name, base_dir, REPROVISION))


def parse_pins(pins):
    """Hex fingerprints ('ab12...' or 'AB:12:...') -> list of 32-byte digests."""
    import binascii
    out = []
    for i, pin in enumerate(pins or ()):
        text = str(pin).replace(":", "").replace(" ", "").lower()
        try:
            digest = binascii.unhexlify(text)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ValueError("tls.pins[%d] %r is not a SHA-256 fingerprint (64 hex digits): %s"
                             % (i, pin, REPROVISION))
        out.append(digest)
    return out


def make_context(tls_cfg, base_dir):
    mode = tls_cfg.get("mode", "ca")
    if mode not in ("ca", "pin", "ca+pin", "insecure"):
        raise ValueError("tls.mode %r: use one of ca, pin, ca+pin, insecure" % mode)
    pins = parse_pins(tls_cfg.get("pins")) if "pin" in mode else None
    if pins is not None and not pins:
        raise ValueError("tls.mode %r needs the broker's fingerprint in tls.pins: %s"
                         % (mode, REPROVISION))
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    # mbedtls has a verify callback, axTLS verifies nothing and has none.
    callback = hasattr(ctx, "verify_callback")
    if mode.startswith("ca"):
        cadata = _read(base_dir, tls_cfg.get("ca") or "ca.der", "ca")
        try:
            ctx.verify_mode = tls.CERT_REQUIRED
            try:
                ctx.load_verify_locations(cadata)
            except TypeError:           # the ssl module's wrapper (before 1.23) names it
                ctx.load_verify_locations(cadata=cadata)
        except (AttributeError, NotImplementedError):
            raise ValueError("tls.mode %r needs a TLS library that verifies certificates; "
                             "this port's (axTLS, ESP8266) cannot: use tls.mode \"pin\"" % mode)
        except (ValueError, OSError):
            raise ValueError("tls.ca: %s is not a certificate in DER: %s"
                             % (tls_cfg.get("ca"), REPROVISION))
    elif pins and callback:
        # Verify, but let the callback decide: no CA is needed to check a pin.
        ctx.verify_mode = tls.CERT_OPTIONAL
    else:
        ctx.verify_mode = tls.CERT_NONE
    cert, key = tls_cfg.get("cert"), tls_cfg.get("key")
    if bool(cert) != bool(key):
        raise ValueError("tls.cert and tls.key go together (mutual TLS): set both or neither")
    if cert:
        try:
            ctx.load_cert_chain(_read(base_dir, cert, "cert"), _read(base_dir, key, "key"))
        except (ValueError, OSError) as e:
            if "no file" in str(e):
                raise
            raise ValueError("tls.cert/tls.key: %s/%s are not a certificate and its key in DER "
                             "(%s): %s" % (cert, key, e, REPROVISION))
    return Context(ctx, mode, pins, tls_cfg.get("server_hostname"), bool(cert), callback)


class Context:
    """wrap_socket(sock, server_hostname=...) that authenticates the broker or raises TLSError.

    redial: a function that opens a new TCP connection to the same broker (the MQTT client
    sets it), for node.tlsexplain to look at a failed handshake again when the TLS library's
    error alone does not tell why."""

    def __init__(self, ctx, mode, pins, server_hostname, client_cert, callback):
        self._ctx = ctx
        self.mode = mode
        self.pins = pins
        self.server_hostname = server_hostname
        self.client_cert = client_cert
        self.redial = None
        self.leaf = None            # the leaf's first bytes (mbedtls), to explain a refusal
        self.fingerprint = None     # the leaf's SHA-256 (mbedtls, pin mode)
        self._watch = pins is not None and not callback
        if callback and mode != "insecure":
            ctx.verify_callback = self._verify

    def _verify(self, cert, depth):
        # mbedtls calls this for each certificate of the chain, the leaf (depth 0) last.
        if depth:
            return 0
        self.leaf = bytes(cert[:_LEAD])
        if self.pins is None:
            return 0
        self.fingerprint = digest = hashlib.sha256(cert).digest()
        return 0 if digest in self.pins else _X509_FATAL

    def wrap_socket(self, sock, server_hostname=None):
        name = self.server_hostname or server_hostname
        if self.mode == "insecure":
            print("WARNING: tls.mode is \"insecure\": the broker is NOT authenticated, anyone on "
                  "the path can read the MQTT password; use \"ca\" or \"pin\"")
        self.leaf = self.fingerprint = None
        watch = None
        if self._watch:
            from node.tlspin import Watch
            watch = sock = Watch(sock, self.pins)
        try:
            tsock = self._ctx.wrap_socket(sock, server_hostname=name)
        except (ValueError, OSError) as e:
            sock.close()
            from node.tlsexplain import explain
            raise explain(self, e, watch, name)
        # Fail closed: a handshake that ended without the pinned certificate in sight.
        if self.pins and not (watch.verified if watch else self.fingerprint in self.pins):
            tsock.close()
            from node.tlsexplain import explain
            raise explain(self, None, watch, name)
        return tsock
