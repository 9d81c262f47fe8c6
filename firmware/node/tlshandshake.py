# The server's handshake messages, read as node.tlsguard passes them on from its records: the
# ServerHello's version, the Certificate message checked and its leaf pinned, whether a
# client certificate was asked for. A module of its own so that its code goes once the
# handshake is done (node.app unloads it); what it finds goes to the guard's fields and
# refusals (node.tlsguard says what each means).
#
# Its counters live in guard._m and its header bytes in guard._b, made at the first message:
# the message being read (header bytes got, position, bytes left, type); the Certificate
# message (its length; the entry being read: its header, 3 + up to 5 bytes, starts at NEXT,
# its DER ends at CEND, 0 while the header is read, its length, entries so far); in the leaf,
# the TLV whose header starts at KAT (-1: done), the element index in TBSCertificate (-1:
# before it), the SubjectPublicKeyInfo's index and where it ends.
import hashlib
from micropython import const

from node.tlsguard import (BAD_CERT_MSG, BAD_HELLO, BIG_CERT, HUGE_MESSAGE, OLD_TLS,
                           PIN_MISMATCH, RENEGOTIATION, TOO_MANY_CERTS, _header)

_HELLO_REQUEST = const(0)
_SERVER_HELLO = const(2)
_CERTIFICATE = const(11)
_CERT_REQUEST = const(13)
_SERVER_HELLO_MAX = const(512)   # longer ServerHellos are refused
_MESSAGE_MAX = const(16384)      # handshake messages above are refused
_HGOT = const(0)
_MPOS = const(1)
_MLEFT = const(2)
_MTYPE = const(3)
_MTOTAL = const(4)
_NEXT = const(5)
_CEND = const(6)
_ELEN = const(7)
_COUNT = const(8)
_KAT = const(9)
_KIDX = const(10)
_KSPKI = const(11)
_KEND = const(12)
_COUNTERS = const(13)
# Header bytes in guard._b: handshake message, certificate entry, TLV.
_HHEAD = const(0)
_CHEAD = const(4)
_KHEAD = const(12)
_HEADERS = const(17)


def messages(g, buf, i, end):
    """Handshake bytes buf[i:end] of the server's records, in clear, to guard g."""
    n = g._m
    if n is None:
        n = g._m = [0] * _COUNTERS
        n[_MTYPE] = -1
        g._b = bytearray(_HEADERS)
    h = g._b
    while i < end and not g.refused:
        if n[_HGOT] < 4:
            i = _header(buf, i, end, h, _HHEAD, n, _HGOT, 4)
            if n[_HGOT] == 4:
                _message_start(g, n, h)
            continue
        k = min(n[_MLEFT], end - i)
        if n[_MTYPE] == _CERTIFICATE:
            _certificate(g, n, h, buf, i, i + k)
        elif n[_MTYPE] == _SERVER_HELLO:
            # Its first two bytes are the version the server chose.
            for j in range(min(k, 2 - n[_MPOS])):
                h[_CHEAD + n[_MPOS] + j] = buf[i + j]
        n[_MPOS] += k
        n[_MLEFT] -= k
        i += k
        if n[_MLEFT] == 0:
            _message_end(g, n, h)


def _message_start(g, n, h):
    t = n[_MTYPE] = h[_HHEAD]
    size = n[_MLEFT] = (h[_HHEAD + 1] << 16) | (h[_HHEAD + 2] << 8) | h[_HHEAD + 3]
    n[_MPOS] = 0
    if t == _HELLO_REQUEST:
        g._refuse(RENEGOTIATION)
    elif size > _MESSAGE_MAX:
        g._refuse(HUGE_MESSAGE, size)
    elif t == _SERVER_HELLO:
        if size > _SERVER_HELLO_MAX:
            g._refuse(HUGE_MESSAGE, size)
        elif size < 2:
            g._refuse(BAD_HELLO)
    elif t == _CERTIFICATE:
        n[_MTOTAL] = size
        n[_NEXT] = n[_CEND] = n[_COUNT] = 0
    elif t == _CERT_REQUEST:
        g.cert_requested = True
    if size == 0:
        _message_end(g, n, h)


def _message_end(g, n, h):
    if n[_MTYPE] == _SERVER_HELLO:
        version = (h[_CHEAD] << 8) | h[_CHEAD + 1]
        if version < 0x0303:
            g._refuse(OLD_TLS, version)
    elif n[_MTYPE] == _CERTIFICATE and (n[_CEND] or n[_NEXT] != n[_MTOTAL] or not n[_COUNT]):
        g._refuse(BAD_CERT_MSG)          # entries that do not fill the list, or none
    n[_HGOT] = 0
    n[_MTYPE] = -1


# --- the Certificate message, checked and its leaf pinned as it streams by ---

def _certificate(g, n, c, buf, i, end):
    pos = n[_MPOS]
    while i < end and not g.refused:
        if pos < 3:                         # the list's length
            c[_CHEAD + pos] = buf[i]
            pos += 1
            i += 1
            if pos == 3:
                if ((c[_CHEAD] << 16) | (c[_CHEAD + 1] << 8) | c[_CHEAD + 2]
                        != n[_MTOTAL] - 3):
                    g._refuse(BAD_CERT_MSG)
                n[_NEXT] = 3
        elif not n[_CEND]:                  # an entry's header
            j = pos - n[_NEXT]
            c[_CHEAD + j] = buf[i]
            pos += 1
            i += 1
            _entry_header(g, n, c, j + 1)
        else:                               # an entry's certificate
            k = min(n[_CEND] - pos, end - i)
            if g._hash is not None:
                g._hash.update(memoryview(buf)[i:i + k])
                if g._key_pins:
                    _key_bytes(g, n, c, buf, i, i + k, pos)
            pos += k
            i += k
            if pos == n[_CEND]:
                if g._hash is not None:
                    _leaf_end(g)
                n[_NEXT] = pos
                n[_CEND] = 0


def _entry_header(g, n, c, got):
    # got bytes of <length:3> <DER: 0x30, its length in 1 to 4 bytes> are in the header.
    if got == 3:
        size = n[_ELEN] = (c[_CHEAD] << 16) | (c[_CHEAD + 1] << 8) | c[_CHEAD + 2]
        n[_COUNT] += 1
        if n[_COUNT] > g._max[0]:
            g._refuse(TOO_MANY_CERTS, n[_COUNT])
        elif size > g._max[1]:
            g._refuse(BIG_CERT, size)
        elif size < 2 or n[_NEXT] + 3 + size > n[_MTOTAL]:
            g._refuse(BAD_CERT_MSG)
        return
    if got < 5:
        return
    b = c[_CHEAD + 4]
    if c[_CHEAD + 3] != 0x30 or b == 0x80 or b > 0x83:
        g._refuse(BAD_CERT_MSG)
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
        g._refuse(BAD_CERT_MSG)
        return
    n[_CEND] = n[_NEXT] + 3 + n[_ELEN]
    if n[_COUNT] == 1 and (g._pins or g._key_pins):
        g._hash = hashlib.sha256(c[_CHEAD + 3:_CHEAD + need])
        n[_KAT] = n[_NEXT] + need           # TBSCertificate's header
        n[_KIDX] = n[_KSPKI] = -1
        n[_KEND] = 0


def _leaf_end(g):
    digest = g.fingerprint = g._hash.digest()
    g._hash = None
    if digest in g._pins or g.key_fingerprint in g._key_pins:
        g.verified = True
    else:
        g._refuse(PIN_MISMATCH)


def _key_bytes(g, n, h, buf, i, end, pos):
    # Walks the leaf's TLVs to its SubjectPublicKeyInfo: TBSCertificate holds [0] version
    # (optional), serial, signature, issuer, validity, subject, then the SPKI, hashed whole.
    while i < end and n[_KAT] >= 0:
        if n[_KEND]:
            k = min(n[_KEND] - pos, end - i)
            g._khash.update(memoryview(buf)[i:i + k])
            i += k
            pos += k
            if pos == n[_KEND]:
                g.key_fingerprint = g._khash.digest()
                g._khash = None
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
                g._khash = hashlib.sha256(h[_KHEAD:_KHEAD + need])
                n[_KEND] = content + size
            else:
                n[_KAT] = content + size    # past this element
            n[_KIDX] += 1
