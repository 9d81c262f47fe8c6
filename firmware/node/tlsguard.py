# The record layer of a TLS connection, read as it passes between the TCP socket and the TLS
# library (node.tls.Deadline: the socket as the library's stream, with a deadline): pin mode on
# a TLS library that cannot check a certificate itself (axTLS, on the ESP8266), and for
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
# ESP8266's few large free blocks).
import hashlib
from micropython import const

from node.tls import Deadline

_CCS = const(20)
_ALERT = const(21)
_HANDSHAKE = const(22)
_APPDATA = const(23)
_HELLO_REQUEST = const(0)
_SERVER_HELLO = const(2)
_CERTIFICATE = const(11)
_CERT_REQUEST = const(13)
_SERVER_HELLO_MAX = const(512)   # longer ServerHellos are refused
_MESSAGE_MAX = const(16384)      # handshake messages above are refused
_EREFUSED = const(-111)          # ECONNREFUSED: our refusal, handed to the TLS library
# Counters in Guard._n: the server's record being read (header bytes got, type, bytes left,
# encrypted handshake records so far); the client's record being written (header bytes got,
# bytes left, handshake records after its CCS, -1 before it); the handshake message being read
# (header bytes got, position, bytes left, type); the Certificate message (its length; the
# entry being read: its header, 3 + up to 5 bytes, starts at NEXT, its DER ends at CEND, 0
# while the header is read, its length, entries so far); in the leaf, the TLV whose header
# starts at KAT (-1: done), the element index in TBSCertificate (-1: before it), the
# SubjectPublicKeyInfo's index and where it ends.
_RGOT = const(0)
_RTYPE = const(1)
_RLEFT = const(2)
_SEALED = const(3)
_WGOT = const(4)
_WLEFT = const(5)
_WSEALED = const(6)
_HGOT = const(7)
_MPOS = const(8)
_MLEFT = const(9)
_MTYPE = const(10)
_MTOTAL = const(11)
_NEXT = const(12)
_CEND = const(13)
_ELEN = const(14)
_COUNT = const(15)
_KAT = const(16)
_KIDX = const(17)
_KSPKI = const(18)
_KEND = const(19)
_COUNTERS = const(20)
# Header bytes in Guard._h: record in, record out, handshake message, certificate entry, TLV.
_RHEAD = const(0)
_WHEAD = const(5)
_HHEAD = const(10)
_CHEAD = const(14)
_KHEAD = const(22)
_HEADERS = const(27)

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
        n = self._n = [0] * _COUNTERS
        n[_WSEALED] = n[_MTYPE] = -1
        self._h = bytearray(_HEADERS)
        self._hash = self._khash = None

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
                    elif t == _HANDSHAKE and self.done:
                        self._sealed(n, _SEALED)
                    if not n[_RLEFT]:
                        n[_RGOT] = 0
                continue
            k = min(n[_RLEFT], count - i)
            if self.done:
                pass                        # encrypted: only its length matters
            elif n[_RTYPE] == _HANDSHAKE:
                self._handshake(buf, i, i + k)
            elif n[_RTYPE] == _ALERT and k and n[_RLEFT] - k <= 0:
                self.alert = buf[i + k - 1]     # level, description: the last byte
            n[_RLEFT] -= k
            i += k
            if n[_RLEFT] == 0:
                n[_RGOT] = 0

    def _handshake(self, buf, i, end):
        n, h = self._n, self._h
        while i < end and not self.refused:
            if n[_HGOT] < 4:
                i = _header(buf, i, end, h, _HHEAD, n, _HGOT, 4)
                if n[_HGOT] == 4:
                    self._message_start()
                continue
            k = min(n[_MLEFT], end - i)
            if n[_MTYPE] == _CERTIFICATE:
                self._certificate(buf, i, i + k)
            elif n[_MTYPE] == _SERVER_HELLO:
                # Its first two bytes are the version the server chose.
                for j in range(min(k, 2 - n[_MPOS])):
                    self._h[_CHEAD + n[_MPOS] + j] = buf[i + j]
            n[_MPOS] += k
            n[_MLEFT] -= k
            i += k
            if n[_MLEFT] == 0:
                self._message_end()

    def _message_start(self):
        n, h = self._n, self._h
        t = n[_MTYPE] = h[_HHEAD]
        size = n[_MLEFT] = (h[_HHEAD + 1] << 16) | (h[_HHEAD + 2] << 8) | h[_HHEAD + 3]
        n[_MPOS] = 0
        if t == _HELLO_REQUEST:
            self._refuse(RENEGOTIATION)
        elif size > _MESSAGE_MAX:
            self._refuse(HUGE_MESSAGE, size)
        elif t == _SERVER_HELLO:
            if size > _SERVER_HELLO_MAX:
                self._refuse(HUGE_MESSAGE, size)
            elif size < 2:
                self._refuse(BAD_HELLO)
        elif t == _CERTIFICATE:
            n[_MTOTAL] = size
            n[_NEXT] = n[_CEND] = n[_COUNT] = 0
        elif t == _CERT_REQUEST:
            self.cert_requested = True
        if size == 0:
            self._message_end()

    def _message_end(self):
        n, h = self._n, self._h
        if n[_MTYPE] == _SERVER_HELLO:
            version = (h[_CHEAD] << 8) | h[_CHEAD + 1]
            if version < 0x0303:
                self._refuse(OLD_TLS, version)
        elif n[_MTYPE] == _CERTIFICATE and (n[_CEND] or n[_NEXT] != n[_MTOTAL] or not n[_COUNT]):
            self._refuse(BAD_CERT_MSG)          # entries that do not fill the list, or none
        n[_HGOT] = 0
        n[_MTYPE] = -1

    # --- the Certificate message, checked and its leaf pinned as it streams by ---

    def _certificate(self, buf, i, end):
        n, c = self._n, self._h
        pos = n[_MPOS]
        while i < end and not self.refused:
            if pos < 3:                         # the list's length
                c[_CHEAD + pos] = buf[i]
                pos += 1
                i += 1
                if pos == 3:
                    if ((c[_CHEAD] << 16) | (c[_CHEAD + 1] << 8) | c[_CHEAD + 2]
                            != n[_MTOTAL] - 3):
                        self._refuse(BAD_CERT_MSG)
                    n[_NEXT] = 3
            elif not n[_CEND]:                  # an entry's header
                j = pos - n[_NEXT]
                c[_CHEAD + j] = buf[i]
                pos += 1
                i += 1
                self._entry_header(j + 1)
            else:                               # an entry's certificate
                k = min(n[_CEND] - pos, end - i)
                if self._hash is not None:
                    self._hash.update(memoryview(buf)[i:i + k])
                    if self._key_pins:
                        self._key_bytes(buf, i, i + k, pos)
                pos += k
                i += k
                if pos == n[_CEND]:
                    if self._hash is not None:
                        self._leaf_end()
                    n[_NEXT] = pos
                    n[_CEND] = 0

    def _entry_header(self, got):
        # got bytes of <length:3> <DER: 0x30, its length in 1 to 4 bytes> are in the header.
        n, c = self._n, self._h
        if got == 3:
            size = n[_ELEN] = (c[_CHEAD] << 16) | (c[_CHEAD + 1] << 8) | c[_CHEAD + 2]
            n[_COUNT] += 1
            if n[_COUNT] > self._max[0]:
                self._refuse(TOO_MANY_CERTS, n[_COUNT])
            elif size > self._max[1]:
                self._refuse(BIG_CERT, size)
            elif size < 2 or n[_NEXT] + 3 + size > n[_MTOTAL]:
                self._refuse(BAD_CERT_MSG)
            return
        if got < 5:
            return
        b = c[_CHEAD + 4]
        if c[_CHEAD + 3] != 0x30 or b == 0x80 or b > 0x83:
            self._refuse(BAD_CERT_MSG)
            return
        need = 5 + (b & 0x7F if b > 0x80 else 0)
        if got < need:
            return
        der = b
        if b > 0x80:
            der = 0
            for j in range(_CHEAD + 5, _CHEAD + need):
                der = (der << 8) | c[j]
        if need - 3 + der != n[_ELEN]:
            self._refuse(BAD_CERT_MSG)
            return
        n[_CEND] = n[_NEXT] + 3 + n[_ELEN]
        if n[_COUNT] == 1 and (self._pins or self._key_pins):
            self._hash = hashlib.sha256(c[_CHEAD + 3:_CHEAD + need])
            n[_KAT] = n[_NEXT] + need           # TBSCertificate's header
            n[_KIDX] = n[_KSPKI] = -1
            n[_KEND] = 0

    def _leaf_end(self):
        digest = self.fingerprint = self._hash.digest()
        self._hash = None
        if digest in self._pins or self.key_fingerprint in self._key_pins:
            self.verified = True
        else:
            self._refuse(PIN_MISMATCH)

    def _key_bytes(self, buf, i, end, pos):
        # Walks the leaf's TLVs to its SubjectPublicKeyInfo: TBSCertificate holds [0] version
        # (optional), serial, signature, issuer, validity, subject, then the SPKI, hashed whole.
        n, h = self._n, self._h
        while i < end and n[_KAT] >= 0:
            if n[_KEND]:
                k = min(n[_KEND] - pos, end - i)
                self._khash.update(memoryview(buf)[i:i + k])
                i += k
                pos += k
                if pos == n[_KEND]:
                    self.key_fingerprint = self._khash.digest()
                    self._khash = None
                    n[_KAT] = -1
                continue
            if pos < n[_KAT]:
                k = min(n[_KAT] - pos, end - i)
                i += k
                pos += k
                continue
            j = pos - n[_KAT]
            h[_KHEAD + j] = buf[i]
            i += 1
            pos += 1
            if j < 1:
                continue
            b = h[_KHEAD + 1]
            need = 2 + (b & 0x7F if b > 0x80 else 0)
            if b == 0x80 or b > 0x83:
                n[_KAT] = -1                    # not DER: no key to pin
            elif j + 1 == need:
                size = b
                if b > 0x80:
                    size = 0
                    for q in range(_KHEAD + 2, _KHEAD + need):
                        size = (size << 8) | h[q]
                content = n[_KAT] + need
                if n[_KIDX] == 0:
                    n[_KSPKI] = 6 if h[_KHEAD] == 0xA0 else 5
                if n[_KIDX] < 0:
                    n[_KAT] = content           # into TBSCertificate
                elif n[_KIDX] == n[_KSPKI]:
                    self._khash = hashlib.sha256(h[_KHEAD:_KHEAD + need])
                    n[_KEND] = content + size
                else:
                    n[_KAT] = content + size    # past this element
                n[_KIDX] += 1


def _header(buf, i, end, h, at, n, got, size=5):
    # Copies a header's bytes from buf[i:end] to h[at:at + size], counting them in n[got]
    # (a record header is 5 bytes, a handshake message's 4); returns where buf was left.
    while n[got] < size and i < end:
        h[at + n[got]] = buf[i]
        n[got] += 1
        i += 1
    return i
