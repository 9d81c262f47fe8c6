# The server's side of a TLS 1.2 handshake, read as it passes between the TCP socket and a TLS
# library that cannot check a certificate itself (axTLS, on the ESP8266): pins the broker's
# certificate, and notes what went wrong when a handshake fails so that node.tlsexplain can
# name the cause. Imported only in pin mode on such a library, and to diagnose a failed
# handshake.
#
# How: the TLS library reads its bytes through this object (any io.IOBase with readinto/write/
# ioctl works as its socket), and TLS 1.2 sends the server's Certificate message in clear, so
# the leaf certificate's SHA-256 is computed as its bytes stream by: nothing is kept but the
# hash state, whatever the certificate's size. Everything the library asks for is parsed
# before it gets it, so a refusal reaches the library as an error instead of the bytes.
# Pinning fails closed: until a pinned certificate has been seen, no application data record
# (CONNECT, which carries the password) may go out, and a handshake that encrypts before showing
# a certificate (TLS 1.3, resumption) is refused.
#
# Errors go back to the TLS library as negative errno values, not raised: an exception would
# unwind through the library's C code and leak its handshake buffers.
#
#   Watch(sock, pins=None)   pins: list of 32-byte SHA-256 digests, or None (only watch)
#   .verified .refused .fingerprint .tls13 .cert_requested .alert .received .done
import hashlib
import io
import select
from micropython import const

_CCS = const(20)
_ALERT = const(21)
_HANDSHAKE = const(22)
_APPDATA = const(23)
_SERVER_HELLO = const(2)
_CERTIFICATE = const(11)
_CERT_REQUEST = const(13)
_SERVER_HELLO_MAX = const(512)   # longer ServerHellos are skipped, not parsed
_EREFUSED = const(-111)          # ECONNREFUSED: our refusal, handed to the TLS library
_EAGAIN = const(11)
_ETIMEDOUT = const(110)
_POLL = const(3)
_CLOSE = const(4)

# Why the watch refused a handshake (node.tlsexplain turns them into messages).
PIN_MISMATCH = "pin"
NOT_TLS = "not-tls"
NO_CLEAR_CERT = "no-cert"        # encryption began before a certificate was seen
BAD_CERT_MSG = "bad-cert-msg"


class Watch(io.IOBase):
    def __init__(self, sock, pins=None):
        self._sock = sock
        self._pins = pins
        self._poller = None
        self._blocking = True        # the socket waits (up to its timeout) for data
        self.verified = not pins     # no pins: nothing to verify
        self.refused = None          # one of the reasons above, once refused
        self.fingerprint = None      # hex SHA-256 of the leaf certificate
        self.tls13 = False           # the ServerHello chose TLS 1.3
        self.cert_requested = False  # the broker asked for a client certificate
        self.alert = None            # description code of the last alert received in clear
        self.received = 0            # bytes received from the server
        self.done = False            # encryption began: nothing more to read in clear
        # record layer
        self._rhead = bytearray(5)
        self._rgot = self._rtype = self._rleft = 0
        # handshake layer
        self._hhead = bytearray(4)
        self._hgot = self._mpos = self._mleft = 0
        self._mtype = -1
        self._hello = None
        self._chead = bytearray(6)
        self._cend = 0               # end of the leaf in the message; -1: past it
        self._hash = None

    # --- stream protocol, used by the TLS library ---

    def readinto(self, buf):
        try:
            n = self._sock.readinto(buf)
        except OSError as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 5
            if code == _EAGAIN:
                # The unix port reports a socket timeout as EAGAIN. From a socket that waits,
                # it means the timeout passed: "would block" (None) would make the TLS library
                # retry its handshake forever.
                return -_ETIMEDOUT if self._blocking else None
            return -code if code > 0 else -5
        if not n or self.done:
            return n
        self.received += n
        self._feed(buf, n)
        return _EREFUSED if self.refused else n

    def write(self, buf):
        # Fail closed: no application data before the pinned certificate was seen.
        if not self.verified and len(buf) and buf[0] == _APPDATA:
            self.refused = self.refused or NO_CLEAR_CERT
            return _EREFUSED
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
        self._blocking = bool(flag)
        self._sock.setblocking(flag)

    def settimeout(self, t):
        self._blocking = t is None or t > 0
        self._sock.settimeout(t)

    def close(self):
        self._sock.close()

    # --- the server's bytes, parsed as they stream by ---

    # The parsers walk the caller's buffer by index: no slices, so no garbage while the TLS
    # library makes its own allocations (an ESP8266's heap is too small to fragment).

    def _feed(self, buf, n):
        i = 0
        while i < n and not self.done and not self.refused:
            if self._rgot < 5:
                h = self._rhead
                while self._rgot < 5 and i < n:
                    h[self._rgot] = buf[i]
                    self._rgot += 1
                    i += 1
                # The first bytes tell a TLS record from anything else (a plain MQTT broker's
                # CONNACK, an HTTP error page): say so at once, without waiting for more.
                if h[0] < _CCS or h[0] > _APPDATA or (self._rgot > 1 and h[1] != 3):
                    self.refused = NOT_TLS
                elif self._rgot == 5:
                    self._record_start()
                continue
            k = min(self._rleft, n - i)
            if self._rtype == _HANDSHAKE:
                self._handshake(buf, i, i + k)
            elif self._rtype == _ALERT and k and self._rleft - k <= 0:
                self.alert = buf[i + k - 1]     # level, description: the last byte
            self._rleft -= k
            i += k
            if self._rleft == 0:
                self._rgot = 0

    def _record_start(self):
        h = self._rhead
        t = h[0]
        self._rtype = t
        self._rleft = (h[3] << 8) | h[4]
        if t == _CCS or t == _APPDATA:
            # From here on the server's records are encrypted.
            if not self.verified:
                self.refused = NO_CLEAR_CERT
            self.done = True
        elif self._rleft == 0:
            self._rgot = 0

    def _handshake(self, buf, i, end):
        while i < end and not self.refused:
            if self._hgot < 4:
                h = self._hhead
                while self._hgot < 4 and i < end:
                    h[self._hgot] = buf[i]
                    self._hgot += 1
                    i += 1
                if self._hgot == 4:
                    self._message_start()
                continue
            k = min(self._mleft, end - i)
            if self._mtype == _CERTIFICATE:
                self._cert_bytes(buf, i, i + k)
            elif self._hello is not None:
                hello, pos = self._hello, self._mpos
                for j in range(k):
                    hello[pos + j] = buf[i + j]
            self._mpos += k
            self._mleft -= k
            i += k
            if self._mleft == 0:
                self._message_end()

    def _message_start(self):
        h = self._hhead
        self._mtype = h[0]
        self._mleft = (h[1] << 16) | (h[2] << 8) | h[3]
        self._mpos = 0
        if self._mtype == _SERVER_HELLO and self._mleft <= _SERVER_HELLO_MAX:
            self._hello = bytearray(self._mleft)
        elif self._mtype == _CERT_REQUEST:
            self.cert_requested = True
        if self._mleft == 0:
            self._message_end()

    def _message_end(self):
        if self._hello is not None:
            self.tls13 = _chose_tls13(self._hello)
            self._hello = None
        elif self._mtype == _CERTIFICATE and self._pins and not self.verified and not self.refused:
            # A Certificate message that ended before its first certificate did.
            self.refused = BAD_CERT_MSG
        self._hgot = 0
        self._mtype = -1

    def _cert_bytes(self, buf, i, end):
        # Certificate body: <list length:3> <first cert length:3> <first cert DER> ...
        # With pins, the leaf is hashed as it passes.
        if self._cend < 0:
            return
        pos = self._mpos
        c = self._chead
        while pos < 6 and i < end:
            c[pos] = buf[i]
            pos += 1
            i += 1
        if pos < 6:
            return
        if not self._cend:
            clen = (c[3] << 16) | (c[4] << 8) | c[5]
            if clen == 0 or 6 + clen > self._mpos + self._mleft:
                if self._pins and not self.verified:
                    self.refused = BAD_CERT_MSG
                self._cend = -1
                return
            self._cend = 6 + clen
            if self._pins:
                self._hash = hashlib.sha256()
        k = min(self._cend - pos, end - i)
        if k > 0 and self._hash is not None:
            self._hash.update(memoryview(buf)[i:i + k])
        if pos + k == self._cend:
            self._cend = -1
            if self._hash is not None:
                digest = self._hash.digest()
                self._hash = None
                self.fingerprint = _hex(digest)
                if digest in self._pins:
                    self.verified = True
                elif not self.verified:
                    self.refused = PIN_MISMATCH


def _hex(b):
    import binascii
    return binascii.hexlify(b).decode()


def _chose_tls13(hello):
    # ServerHello: version(2) random(32) session_id(1+n) cipher(2) compression(1)
    # extensions(2 + ...); TLS 1.3 says so in supported_versions (43) = 0x0304.
    try:
        i = 34
        i += 1 + hello[i]
        i += 3
        if i + 2 > len(hello):
            return False
        end = min(len(hello), i + 2 + ((hello[i] << 8) | hello[i + 1]))
        i += 2
        while i + 4 <= end:
            etype = (hello[i] << 8) | hello[i + 1]
            elen = (hello[i + 2] << 8) | hello[i + 3]
            if etype == 43 and elen == 2 and i + 6 <= end:
                return hello[i + 4] == 3 and hello[i + 5] == 4
            i += 4 + elen
    except IndexError:
        pass
    return False
