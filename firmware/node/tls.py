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
# connection (Context.until, set by the caller): node.tlsstream.Deadline, the socket as the TLS
# library's stream; on axTLS node.tlsguard, which also refuses TLS below 1.2, renegotiation
# and malformed Certificate messages, and checks the pins.
import gc
import hashlib
import select
import time
from micropython import const


_X509_FATAL = const(-0x3000)     # MBEDTLS_ERR_X509_FATAL_ERROR: ends the handshake
_LEAD = const(512)               # bytes kept of the leaf: its issuer and subject, to explain
_EPROTO = const(71)
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


def _pending(tsock):
    # mbedtls holds bytes it decrypted and did not hand out (the TLS socket's poll says so).
    p = select.poll()
    p.register(tsock, select.POLLIN)
    return bool(p.poll(0))


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
        # axTLS (no verify callback) checks nothing of what the broker sends: the guard reads
        # the handshake in every mode (TLS 1.2 at least, no renegotiation, a well-formed
        # Certificate message). It also takes its memory from the GC heap: a caller should
        # load nothing before a handshake that can wait until after it.
        self.axtls = not callback
        if callback and mode != "insecure":
            ctx.verify_callback = self._verify

    def close(self):
        """No more connections from this context (a wake makes one): the TLS library lets go
        of the verify callback, and with it of this object and its module's code (mbedtls;
        on axTLS there is no callback)."""
        if not self.axtls:
            self._ctx.verify_callback = None

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
        if self.axtls:
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
        if self.axtls:
            from node.tlsguard import Guard
            watch = Guard(sock, self.pins, self.key_pins, self.max_certs, self.max_cert_bytes,
                          deadline, self.timeout)
        else:
            # mbedtls: TLS 1.2 and 1.3 only, renegotiation compiled out of MicroPython's build,
            # its own size limits; node.tlsexplain looks again through a guard on a failure.
            from node.tlsstream import Deadline
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
        mbed = not self.axtls
        if mbed:
            watch.seal()
        if watch.readable(0) or (mbed and _pending(tsock)):
            # A broker says nothing before CONNECT: what came after its Finished is read
            # through the stream, which refuses a HelloRequest (renegotiation). On axTLS
            # anything is refused; on mbedtls a TLS 1.3 session ticket is read and is no data.
            watch.settimeout(0)
            try:
                got = tsock.read(1)
            except OSError:
                got = b"?"
            if not mbed or got or watch.asked:
                tsock.close()
                from node.tlsexplain import explain
                raise explain(self, OSError(_EPROTO, "TLS: broker %s sent data after its "
                                            "handshake, before CONNECT: an MQTT broker does "
                                            "not" % name), watch, name)
            watch.settimeout(self.timeout)
        watch.deadline = self.until
        return tsock
