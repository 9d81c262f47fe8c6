# TLS for the MQTT client, made from the "tls" section of the device config.
#
#   from node.tls import make_context
#   ctx = make_context(cfg["tls"], base_dir)     # once; reused for every connection
#   MQTTClient(..., ssl=ctx)                     # calls ctx.wrap_socket(sock, server_hostname=...)
#
# The section: {"mode": "ca" | "pin" | "ca+pin" | "insecure", "ca": "ca.der",
#               "pins": [hex SHA-256 of the broker certificate, or "sha256//" + base64 of
#                        the SHA-256 of its public key (SubjectPublicKeyInfo), ...],
#               "cert": "client.der" or None, "key": "client.key.der" or None,
#               "server_hostname": None or the name the broker certificate carries,
#               "handshake_s": the whole handshake's deadline, "max_certs",
#               "max_cert_bytes": what axTLS is given of a Certificate message}
#   ca        the broker's chain, dates and name are checked against the CA (mbedtls: ESP32,
#             unix); axTLS (ESP8266) cannot do this and make_context says so
#   pin       the broker's leaf certificate, or its public key, must hash to one of the pins
#             (keep two during a rotation; a key pin survives a renewal that keeps the key):
#             mbedtls checks it in its verify callback, on axTLS node.tlsguard reads the
#             handshake as it passes
#   ca+pin    both
#   insecure  nothing is checked: only when asked for, with a warning on every connect
# cert/key    a client certificate and key in DER (mutual TLS): RSA keys as PKCS#1,
#             EC keys as SEC1 (axTLS loads RSA only).
# Files are relative to base_dir. Bad config raises ValueError naming the key.
#
# The broker is authenticated inside wrap_socket, before the MQTT client writes a byte of
# CONNECT (which carries the password). A refusal raises TLSError (a ValueError) whose message
# names the cause and the fix (node.tlsexplain, imported only then); network faults stay
# OSError. Every connection has a deadline on its handshake (handshake_s) and then on the
# connection (Context.until, set by the caller): Deadline, the socket as the TLS library's
# stream; in pin mode on axTLS node.tlsguard, which also refuses TLS below 1.2, renegotiation
# and malformed Certificate messages, and checks the pins.
import gc
import hashlib
import io
import select
import time
from micropython import const

try:
    import tls
except ImportError:         # MicroPython before 1.23
    import ssl as tls

_X509_FATAL = const(-0x3000)     # MBEDTLS_ERR_X509_FATAL_ERROR: ends the handshake
_LEAD = const(512)               # bytes kept of the leaf: its issuer and subject, to explain
_EAGAIN = const(11)
_ETIMEDOUT = const(110)
_POLL = const(3)                 # the stream protocol's ioctl requests
_CLOSE = const(4)
REPROVISION = "provision the device again (`host_tools provision`)"


class TLSError(ValueError):
    """The broker could not be authenticated, or did not speak TLS; the message says why."""


def _read(base_dir, name, key):
    try:
        with open(base_dir + "/" + name, "rb") as f:
            return f.read()
    except OSError:
        raise ValueError("tls.%s: no file %s in %s: %s" % (key, name, base_dir, REPROVISION))


KEY_PIN = "sha256//"            # a public key pin, as curl's --pinnedpubkey writes it


def parse_pins(pins):
    """Pins -> (certificate digests, public key digests), 32-byte SHA-256 each: a certificate
    pin is hex ('ab12...' or 'AB:12:...'), a key pin "sha256//" + base64."""
    import binascii
    certs, keys = [], []
    for i, pin in enumerate(pins or ()):
        text = str(pin)
        try:
            if text.startswith(KEY_PIN):
                digest = binascii.a2b_base64(text[len(KEY_PIN):])
            else:
                digest = binascii.unhexlify(text.replace(":", "").replace(" ", "").lower())
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ValueError("tls.pins[%d] %r is neither a certificate's SHA-256 fingerprint (64 "
                             "hex digits) nor a key pin (sha256// and 44 base64 characters): %s"
                             % (i, pin, REPROVISION))
        (keys if text.startswith(KEY_PIN) else certs).append(digest)
    return certs, keys


def tlv(der, i):
    """The DER element at i: (offset of its content, offset past its end)."""
    n = der[i + 1]
    if n < 0x80:
        return i + 2, i + 2 + n
    k = n & 0x7F
    if k > 3:
        raise IndexError("not DER")
    v = 0
    for j in range(i + 2, i + 2 + k):
        v = (v << 8) | der[j]
    return i + 2 + k, i + 2 + k + v


def public_key(der):
    """The SubjectPublicKeyInfo element of a certificate in DER (its bytes), or None."""
    try:
        i = tlv(der, tlv(der, 0)[0])[0]     # into Certificate, into TBSCertificate
        if der[i] == 0xA0:
            i = tlv(der, i)[1]              # version
        for _ in range(5):                  # serial, signature, issuer, validity, subject
            i = tlv(der, i)[1]
        end = tlv(der, i)[1]
        return der[i:end] if end <= len(der) else None
    except IndexError:
        return None


def make_context(tls_cfg, base_dir):
    mode = tls_cfg.get("mode", "ca")
    if mode not in ("ca", "pin", "ca+pin", "insecure"):
        raise ValueError("tls.mode %r: use one of ca, pin, ca+pin, insecure" % mode)
    pins = parse_pins(tls_cfg.get("pins")) if "pin" in mode else None
    if pins is not None and not (pins[0] or pins[1]):
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
    elif pins is not None and callback:
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
    ctx = Context(ctx, mode, pins, tls_cfg.get("server_hostname"), bool(cert), callback)
    ctx.handshake_ms = (tls_cfg.get("handshake_s") or 15) * 1000
    ctx.max_certs = tls_cfg.get("max_certs") or (4 if callback else 1)
    ctx.max_cert_bytes = tls_cfg.get("max_cert_bytes") or 4096
    return ctx


class Deadline(io.IOBase):
    """The TCP socket as the TLS library's stream, with a deadline (ticks_ms, or None) on the
    whole handshake and then on the connection: a server that trickles or stalls cannot hold
    a battery node awake. Errors go back to the TLS library as negative errno values: an
    exception would unwind through its C code and leak its buffers. node.tlsguard adds what
    pin mode on axTLS needs."""

    def __init__(self, sock, deadline=None, timeout=None):
        self._sock = sock
        self._poller = None
        self._timeout = timeout      # the socket's own timeout (s) as set, None: it waits
        self.deadline = deadline
        self.timed_out = False

    def _left(self):
        # ms to the deadline (None: none); past it, timed_out.
        if self.deadline is None:
            return None
        left = time.ticks_diff(self.deadline, time.ticks_ms())
        if left <= 0:
            self.timed_out = True
        return left

    def readinto(self, buf):
        left = self._left()
        if self.timed_out:
            return -_ETIMEDOUT
        short = left is not None and (self._timeout is None or self._timeout * 1000 > left)
        if short:
            self._sock.settimeout(left / 1000)      # the socket's own wait ends there too
        try:
            return self._sock.readinto(buf)
        except OSError as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 5
            if code == _EAGAIN:
                # The unix port reports a socket timeout as EAGAIN. From a socket that waits,
                # it means the timeout passed: "would block" (None) would make the TLS library
                # retry its handshake forever.
                self._left()
                return -_ETIMEDOUT if self._timeout != 0 else None
            return -code if code > 0 else -5
        finally:
            if short:
                self._sock.settimeout(self._timeout)

    def write(self, buf):
        self._left()
        if self.timed_out:
            return -_ETIMEDOUT
        try:
            return self._sock.write(buf)
        except OSError as e:
            return -e.args[0] if e.args and isinstance(e.args[0], int) and e.args[0] > 0 else -5

    def ioctl(self, req, arg):
        if req == _POLL:
            if self._poller is None:
                self._poller = select.poll()
                self._poller.register(self._sock, select.POLLIN | select.POLLOUT)
            for _, ev in self._poller.ipoll(0):
                return ev & arg
            return 0
        if req == _CLOSE:
            self._sock.close()
            return 0
        return -1

    def setblocking(self, flag):
        self.settimeout(None if flag else 0)

    def settimeout(self, t):
        self._timeout = t
        self._sock.settimeout(t)

    def close(self):
        self._sock.close()


class Context:
    """wrap_socket(sock, server_hostname=...) that authenticates the broker or raises TLSError
    (OSError ETIMEDOUT past the handshake's deadline).

    redial: a function that opens a new TCP connection to the same broker (the MQTT client
    sets it), for node.tlsexplain to look at a failed handshake again through a guard when
    the TLS library's error alone does not tell why (mbedtls)."""

    def __init__(self, ctx, mode, pins, server_hostname, client_cert, callback):
        self._ctx = ctx
        self.mode = mode
        self.pins, self.key_pins = pins or (None, None)
        self.server_hostname = server_hostname
        self.client_cert = client_cert
        self.redial = None          # opens a new connection, set by the client that dials
        self.timeout = None         # the socket's timeout, set by the client that dials
        self.until = None           # ticks_ms the connection may last until after the handshake
        self.leaf = None            # the leaf's first bytes (mbedtls), to explain a refusal
        self.fingerprint = None     # the leaf's SHA-256 (mbedtls, pin mode)
        self.key_fingerprint = None     # its public key's SHA-256 (mbedtls, pin mode)
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
        if digest in self.pins:
            return 0
        if self.key_pins:
            key = public_key(cert)
            self.key_fingerprint = key and hashlib.sha256(key).digest()
            if self.key_fingerprint in self.key_pins:
                return 0
        return _X509_FATAL

    def _pinned(self, watch):
        if self.pins is None:
            return True
        if self._watch:
            return watch.verified
        return self.fingerprint in self.pins or (self.key_fingerprint is not None
                                                 and self.key_fingerprint in self.key_pins)

    def wrap_socket(self, sock, server_hostname=None):
        name = self.server_hostname or server_hostname
        if self.mode == "insecure":
            print("WARNING: tls.mode is \"insecure\": the broker is NOT authenticated, anyone on "
                  "the path can read the MQTT password; use \"ca\" or \"pin\"")
        self.leaf = self.fingerprint = self.key_fingerprint = None
        deadline = time.ticks_add(time.ticks_ms(), self.handshake_ms)
        if self._watch:
            from node.tlsguard import Guard
            watch = Guard(sock, self.pins, self.key_pins, self.max_certs, self.max_cert_bytes,
                          deadline, self.timeout)
        else:
            # mbedtls: TLS 1.2 and 1.3 only, renegotiation compiled out of MicroPython's build,
            # its own size limits; node.tlsexplain looks again through a guard on a failure.
            watch = Deadline(sock, deadline, self.timeout)
        gc.collect()                # the dial's garbage: the handshake needs the room
        try:
            tsock = self._ctx.wrap_socket(watch, server_hostname=name)
        except (ValueError, OSError) as e:
            watch.close()
            from node.tlsexplain import explain
            raise explain(self, e, watch, name)
        # Fail closed: a handshake that ended without the pinned certificate in sight.
        if not self._pinned(watch):
            tsock.close()
            from node.tlsexplain import explain
            raise explain(self, None, watch, name)
        watch.deadline = self.until
        return tsock
