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


_X509_FATAL = const(-0x3000)     # MBEDTLS_ERR_X509_FATAL_ERROR: ends the handshake
_LEAD = const(512)               # bytes kept of the leaf: its issuer and subject, to explain
_EAGAIN = const(11)
_EPROTO = const(71)
_ETIMEDOUT = const(110)
_POLL = const(3)                 # the stream protocol's ioctl requests
_CLOSE = const(4)
REPROVISION = "provision the device again (`host_tools provision`)"


class TLSError(ValueError):
    """The broker could not be authenticated, or did not speak TLS; the message says why."""


KEY_PIN = "sha256//"            # a public key pin, as curl's --pinnedpubkey writes it


def make_context(tls_cfg, base_dir):
    """The Context for the config's "tls" section (node.tlsmake makes it, and its code goes
    once it has)."""
    import node
    import sys
    from node.tlsmake import build
    try:
        return build(tls_cfg, base_dir)
    finally:
        sys.modules.pop("node.tlsmake", None)
        node.__dict__.pop("tlsmake", None)


class Deadline(io.IOBase):
    """The TCP socket as the TLS library's stream, with a deadline (ticks_ms, or None) on the
    whole handshake and then on the connection: a server that trickles or stalls cannot hold
    a battery node awake. Errors go back to the TLS library as negative errno values: an
    exception would unwind through its C code and leak its buffers. node.tlsguard adds what
    pin mode on axTLS needs."""

    def __init__(self, sock, deadline=None, timeout=None):
        self._sock = sock
        self._poller = self._reader = None
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
        sock, wait = self._sock, self._timeout
        cut = left is not None and (wait is None or wait * 1000 >= left)    # by the deadline
        if cut:
            wait = left / 1000
        bounded = wait is not None and wait != 0
        if bounded:
            # A socket's readinto waits until the whole buffer is filled, which a server that
            # trickles never does: wait (bounded) for the first byte, then take what is there.
            if self._reader is None:
                self._reader = select.poll()
                self._reader.register(sock, select.POLLIN)
            for _ in self._reader.ipoll(left if cut else int(wait * 1000)):
                break
            else:
                # Nothing came: the deadline passed (the wait ended there, whatever the clock's
                # rounding says), or the socket's own timeout.
                self.timed_out = cut
                return -_ETIMEDOUT
            sock.settimeout(0)
        try:
            return sock.readinto(buf)
        except OSError as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 5
            if code == _EAGAIN:
                # Nothing there after all. From a socket that waits, "would block" (None)
                # would make the TLS library retry its handshake forever.
                self._left()
                return -_ETIMEDOUT if self._timeout != 0 else None
            return -code if code > 0 else -5
        finally:
            if bounded:
                sock.settimeout(self._timeout)

    def pending(self):
        """Bytes wait on the socket now (left there)."""
        if self._reader is None:
            self._reader = select.poll()
            self._reader.register(self._sock, select.POLLIN)
        for _ in self._reader.ipoll(0):
            return True
        return False

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
        # axTLS checks nothing of what the broker sends: the guard reads the handshake in
        # every mode (TLS 1.2 at least, no renegotiation, a well-formed Certificate message).
        self._watch = not callback
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
            from node.x509 import public_key
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
        if self._watch and watch.pending():
            # A broker says nothing before CONNECT: what came after its Finished is a
            # HelloRequest (renegotiation) or worse. Read through the guard, which refuses it.
            tsock.setblocking(False)
            try:
                tsock.read(1)
            except OSError:
                pass
            tsock.close()
            from node.tlsexplain import explain
            raise explain(self, OSError(_EPROTO, "TLS: broker %s sent data after its handshake, "
                                        "before CONNECT: an MQTT broker does not" % name),
                          watch, name)
        watch.deadline = self.until
        return tsock
