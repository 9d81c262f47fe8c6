# The record layer of a TLS connection, read as it passes between the TCP socket and the TLS
# library (node.tlsstream.Deadline: the socket as the library's stream, with a deadline): pin
# mode on a TLS library that cannot check a certificate itself (axTLS, on the ESP8266), and for
# node.tlsexplain a look at why a handshake failed.
# - TLS below 1.2 refused (a ServerHello choosing 1.0 or 1.1: axTLS accepts them), and
#   renegotiation refused in both directions: a HelloRequest in clear, a handshake record from
#   the server after its Finished, or a second handshake record from the client after its own
#   Finished (what a library that renegotiates writes next, whatever the records the
#   HelloRequest came in); any handshake message over a size cap refused, and bytes that are
#   not TLS named at once.
# - The server's Certificate message (TLS 1.2 sends it in clear) is checked before the library
#   parses a byte of it (axTLS trusts its lengths: a list length that lies, or a truncated
#   second entry, made it dereference NULL): the list length is the message length minus 3,
#   the entries fill the list exactly, each entry's length is its certificate's own DER
#   length, at most max_certs entries (axTLS cannot use a chain and parses every entry it
#   gets) of at most max_cert_bytes each.
# - The leaf is pinned as its bytes stream by: its SHA-256 (a certificate pin) and the SHA-256
#   of its SubjectPublicKeyInfo (a key pin, curl's --pinnedpubkey form), nothing kept but the
#   hash states, whatever the certificate's size. Pinning fails closed: until a pinned leaf
#   has been seen, no application data record (CONNECT, which carries the password) may go
#   out, and a handshake that encrypts before showing a certificate (TLS 1.3, resumption) is
#   refused.
# - What node.tlsexplain needs to name a failed handshake (alert, CertificateRequest).
#
#   Guard(sock, pins=(), key_pins=(), max_certs=1, max_cert_bytes=4096, deadline=None,
#         timeout=None)   pins, key_pins: lists of 32-byte SHA-256 digests; none: only watch
#   .refused .detail .verified .fingerprint .key_fingerprint .cert_requested .alert
#   .received .done .timed_out
#
# Refusals go back to the TLS library as a negative errno value, not raised: an exception
# would unwind through its C code and leak its handshake buffers. The parsers walk the
# caller's buffer by index, no slices; their counters live in one list and their header bytes
# in one bytearray (an object with few attributes: the handshake that follows needs the
# ESP8266's few large free blocks). The handshake messages inside the records (ServerHello,
# Certificate, CertificateRequest) are read by node.tlshandshake, whose code goes once the
# handshake is done: after it, this module only reads record headers.
from micropython import const

from node.tlsstream import Deadline

_CCS = const(20)
_ALERT = const(21)
_HANDSHAKE = const(22)
_APPDATA = const(23)
_EREFUSED = const(-111)          # ECONNREFUSED: our refusal, handed to the TLS library
# Counters in Guard._n: the server's record being read (header bytes got, type, bytes left,
# encrypted handshake records so far); the client's record being written (header bytes got,
# bytes left, handshake records after its CCS, -1 before it). The handshake messages inside
# the records are node.tlshandshake's, with counters of their own.
_RGOT = const(0)
_RTYPE = const(1)
_RLEFT = const(2)
_SEALED = const(3)
_WGOT = const(4)
_WLEFT = const(5)
_WSEALED = const(6)
_COUNTERS = const(7)
# Header bytes in Guard._h: record in, record out.
_RHEAD = const(0)
_WHEAD = const(5)
_HEADERS = const(10)

# Why a handshake was refused (node.tlsexplain turns them into messages); `detail` carries
# the number that goes with it.
NOT_TLS = "not-tls"
OLD_TLS = "old-tls"              # detail: the version the server chose (0x0301, 0x0302)
RENEGOTIATION = "renegotiation"
HUGE_MESSAGE = "huge"            # detail: the message's length
BAD_HELLO = "bad-hello"          # a ServerHello too short to hold its version
NO_CLEAR_CERT = "no-cert"        # encryption began before a certificate was seen
PIN_MISMATCH = "pin"
BAD_CERT_MSG = "bad-cert-msg"
TOO_MANY_CERTS = "chain"         # detail: the entry that was one too many
BIG_CERT = "big-cert"            # detail: its length


class Guard(Deadline):
    def __init__(self, sock, pins=(), key_pins=(), max_certs=1, max_cert_bytes=4096,
                 deadline=None, timeout=None):
        super().__init__(sock, deadline, timeout)
        self._pins = pins or ()
        self._key_pins = key_pins or ()
        self._max = (max_certs, max_cert_bytes)
        self.refused = None          # one of the reasons above, once refused
        self.detail = 0
        self.verified = not (self._pins or self._key_pins)     # no pins: nothing to verify
        self.fingerprint = None      # SHA-256 of the leaf certificate
        self.key_fingerprint = None  # SHA-256 of its SubjectPublicKeyInfo
        self.cert_requested = False  # the broker asked for a client certificate
        self.alert = None            # description code of the last alert received in clear
        self.received = 0            # bytes received from the server
        self.done = False            # the server encrypts from here on
        self._n = [0] * _COUNTERS
        self._n[_WSEALED] = -1
        self._h = bytearray(_HEADERS)
        self._hash = self._khash = None
        self._m = self._b = None     # node.tlshandshake's counters and header bytes

    def _refuse(self, why, detail=0):
        if not self.refused:
            self.refused = why
            self.detail = detail

    def readinto(self, buf):
        n = super().readinto(buf)
        if not n or n < 0:
            return n
        self.received += n
        self._feed(buf, n)
        return _EREFUSED if self.refused else n

    def write(self, buf):
        # Fail closed: no application data before the pinned certificate was seen.
        if not self.verified and len(buf) and buf[0] == _APPDATA:
            self._refuse(NO_CLEAR_CERT)
        else:
            self._sent(buf)
        return _EREFUSED if self.refused else super().write(buf)

    # --- the client's records: renegotiation is a second handshake record after its CCS ---

    def _sent(self, buf):
        n, h = self._n, self._h
        i, end = 0, len(buf)
        while i < end:
            if n[_WGOT] < 5:
                i = _header(buf, i, end, h, _WHEAD, n, _WGOT)
                if n[_WGOT] == 5:
                    t = h[_WHEAD]
                    n[_WLEFT] = (h[_WHEAD + 3] << 8) | h[_WHEAD + 4]
                    if t == _CCS:
                        n[_WSEALED] = 0
                    elif t == _HANDSHAKE and n[_WSEALED] >= 0:
                        self._sealed(n, _WSEALED)
                    if not n[_WLEFT]:
                        n[_WGOT] = 0
                continue
            k = min(n[_WLEFT], end - i)
            n[_WLEFT] -= k
            i += k
            if not n[_WLEFT]:
                n[_WGOT] = 0

    def _sealed(self, n, slot):
        # A handshake record after its sender's ChangeCipherSpec: the first is its Finished,
        # any other a renegotiation.
        n[slot] += 1
        if n[slot] > 1:
            self._refuse(RENEGOTIATION)

    # --- the server's bytes, parsed as they stream by ---

    def _feed(self, buf, count):
        n, h = self._n, self._h
        i = 0
        while i < count and not self.refused:
            if n[_RGOT] < 5:
                i = _header(buf, i, count, h, _RHEAD, n, _RGOT)
                # The first bytes tell a TLS record from anything else (a plain MQTT broker's
                # CONNACK, an HTTP error page): say so at once, without waiting for more.
                t = h[_RHEAD]
                if t < _CCS or t > _APPDATA or (n[_RGOT] > 1 and h[_RHEAD + 1] != 3):
                    self._refuse(NOT_TLS)
                elif n[_RGOT] == 5:
                    n[_RTYPE] = t
                    n[_RLEFT] = (h[_RHEAD + 3] << 8) | h[_RHEAD + 4]
                    if t == _CCS or t == _APPDATA:
                        if not self.verified:
                            self._refuse(NO_CLEAR_CERT)
                        self.done = True
                        self._m = self._b = None    # no handshake message in clear follows
                    elif t == _HANDSHAKE and self.done:
                        self._sealed(n, _SEALED)
                    if not n[_RLEFT]:
                        n[_RGOT] = 0
                continue
            k = min(n[_RLEFT], count - i)
            if self.done:
                pass                        # encrypted: only its length matters
            elif n[_RTYPE] == _HANDSHAKE:
                # In its own module: its code goes once the handshake is done (node.app).
                from node.tlshandshake import messages
                messages(self, buf, i, i + k)
            elif n[_RTYPE] == _ALERT and k and n[_RLEFT] - k <= 0:
                self.alert = buf[i + k - 1]     # level, description: the last byte
            n[_RLEFT] -= k
            i += k
            if n[_RLEFT] == 0:
                n[_RGOT] = 0


def _header(buf, i, end, h, at, n, got, size=5):
    # Copies a header's bytes from buf[i:end] to h[at:at + size], counting them in n[got]
    # (a record header is 5 bytes, a handshake message's 4); returns where buf was left.
    while n[got] < size and i < end:
        h[at + n[got]] = buf[i]
        n[got] += 1
        i += 1
    return i
