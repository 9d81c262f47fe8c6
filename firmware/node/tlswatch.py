# A stream between the TCP socket and the TLS library that reads the server's side of a
# TLS 1.2 handshake as it passes: pins the broker's certificate, and notes what went wrong
# when a handshake fails, so node.tls can name the cause.
#
# Why: neither axTLS (ESP8266) nor this MicroPython's mbedtls offers getpeercert, but TLS 1.2
# sends the server's Certificate message in clear. The TLS library reads its bytes through
# this object (any io.IOBase with readinto/write/ioctl works as its socket), so the leaf
# certificate's SHA-256 is computed as its bytes stream by: nothing is kept but the hash
# state, whatever the certificate's size. Pinning fails closed: until a pinned certificate
# has been seen, no application data record (which would carry CONNECT and the password)
# may go out, and a handshake that encrypts before showing a certificate (TLS 1.3,
# resumption) is refused.
#
# Errors are returned to the TLS library as negative errno values, not raised: an exception
# would unwind through the library's C code and leak its handshake buffers.
#
# It stays under the TLS socket for the whole connection (it cannot be taken out), so it is
# also where reads get cheaper: it reads ahead (socket.recv, up to READ_AHEAD bytes), and the
# TLS library's two reads per record (header, body) come from memory. A poll of the socket
# does not see bytes read ahead: buffered() does, and ioctl(POLL) counts them.
#
#   TLSWatch(sock, pins=None)   pins: list of 32-byte SHA-256 digests, or None (only watch)
#   .verified .refused .fingerprint .tls13 .cert_requested .alert .received .done
#   .self_signed                the leaf names itself as its issuer (None: not seen)
#   .buffered()                 bytes read ahead wait here
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
_LEAD = const(512)              # bytes kept of the leaf certificate: its issuer and subject
READ_AHEAD = const(256)          # bytes asked of the socket at once (see readinto)
_POLL = const(3)
_CLOSE = const(4)

# Why the watch refused a handshake (see node.tls for the messages).
PIN_MISMATCH = "pin"
NOT_TLS = "not-tls"
NO_CLEAR_CERT = "no-cert"        # encryption began before a certificate was seen
BAD_CERT_MSG = "bad-cert-msg"


class TLSWatch(io.IOBase):
    """Wraps a connected socket; pins is a list of 32-byte SHA-256 digests, or None."""

    def __init__(self, sock, pins=None):
        self._sock = sock
        self._pins = pins
        self._poller = None
        self._blocking = True        # the socket waits (up to its timeout) for data
        self.verified = not pins     # no pins: nothing to verify
        self.refused = None          # one of the reasons above, once refused
        self.fingerprint = None      # hex SHA-256 of the leaf certificate, in pin mode
        self.tls13 = False           # the ServerHello chose TLS 1.3
        self.cert_requested = False  # the broker asked for a client certificate
        self.alert = None            # description code of the last alert received in clear
        self.received = 0            # bytes received from the server
        self.done = False            # encryption began: nothing more to read in clear
        self.self_signed = None      # the leaf certificate names itself as its issuer
        self._ahead = None           # bytes read from the socket, not yet handed on
        self._apos = 0
        # record layer
        self._rhead = bytearray(5)
        self._rgot = 0
        self._rtype = 0
        self._rleft = 0
        # handshake layer
        self._hhead = bytearray(4)
        self._hgot = 0
        self._mtype = -1
        self._mpos = 0
        self._mleft = 0
        self._hello = None
        self._chead = bytearray(6)
        self._cend = 0               # end of the leaf in the message; -1: past it
        self._hash = None
        self._lead = None            # the leaf's first _LEAD bytes, while it streams by

    # --- stream protocol, used by the TLS library ---

    def readinto(self, buf):
        # TLS libraries read a record's 5-byte header, then its body: two system calls per
        # record. Reading ahead (whatever the socket has, up to READ_AHEAD bytes) serves a
        # run of small records, such as a burst of PUBACKs, from one.
        a = self._ahead
        if a is None:
            try:
                a = self._sock.recv(READ_AHEAD if READ_AHEAD > len(buf) else len(buf))
            except OSError as e:
                code = e.args[0] if e.args and isinstance(e.args[0], int) else 5
                if code == _EAGAIN:
                    # The unix port reports a socket timeout as EAGAIN. From a socket that
                    # waits, it means the timeout passed: "would block" (None) would make
                    # the TLS library retry its handshake forever.
                    return -_ETIMEDOUT if self._blocking else None
                return -code if code > 0 else -5
            if not a:
                return 0
            a = self._ahead = memoryview(a)
            self._apos = 0
        pos = self._apos
        n = len(a) - pos
        if n > len(buf):
            n = len(buf)
            self._apos = pos + n
        else:
            self._ahead = None
        buf[:n] = a[pos:pos + n]
        if self.done:
            return n
        self.received += n
        self._feed(memoryview(buf)[:n])
        return _EREFUSED if self.refused else n

    def buffered(self):
        """True when bytes read ahead wait here (a poll of the socket does not see them)."""
        return self._ahead is not None

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
            if self._ahead is not None and arg & 1:
                return 1
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

    def _feed(self, data):
        i = 0
        n = len(data)
        while i < n and not self.done and not self.refused:
            if self._rgot < 5:
                k = min(5 - self._rgot, n - i)
                self._rhead[self._rgot:self._rgot + k] = data[i:i + k]
                self._rgot += k
                i += k
                h = self._rhead
                # The first bytes tell a TLS record from anything else (a plain MQTT broker's
                # CONNACK, an HTTP error page): say so at once, without waiting for more.
                if h[0] < _CCS or h[0] > _APPDATA or (self._rgot > 1 and h[1] != 3):
                    self.refused = NOT_TLS
                elif self._rgot == 5:
                    self._record_start()
                continue
            k = min(self._rleft, n - i)
            if self._rtype == _HANDSHAKE:
                self._handshake(data[i:i + k])
            elif self._rtype == _ALERT and k:
                # level, description: the description is the last byte of the pair
                if self._rleft - k <= 0:
                    self.alert = data[i + k - 1]
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

    def _handshake(self, data):
        i = 0
        n = len(data)
        while i < n and not self.refused:
            if self._hgot < 4:
                k = min(4 - self._hgot, n - i)
                self._hhead[self._hgot:self._hgot + k] = data[i:i + k]
                self._hgot += k
                i += k
                if self._hgot == 4:
                    self._message_start()
                continue
            k = min(self._mleft, n - i)
            if self._mtype == _CERTIFICATE:
                self._cert_bytes(data[i:i + k])
            elif self._hello is not None:
                self._hello[self._mpos:self._mpos + k] = data[i:i + k]
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

    def _cert_bytes(self, data):
        # Certificate body: <list length:3> <first cert length:3> <first cert DER> ...
        # The leaf is hashed (pin mode) and its start kept (to tell a self-signed one).
        if self._cend < 0:
            return
        pos = self._mpos
        if pos < 6:
            k = min(6 - pos, len(data))
            self._chead[pos:pos + k] = data[:k]
            data = data[k:]
            pos += k
            if pos < 6:
                return
            c = self._chead
            clen = (c[3] << 16) | (c[4] << 8) | c[5]
            if clen == 0 or 6 + clen > self._mpos + self._mleft:
                if self._pins and not self.verified:
                    self.refused = BAD_CERT_MSG
                self._cend = -1
                return
            self._cend = 6 + clen
            self._lead = bytearray()
            if self._pins and not self.verified:
                self._hash = hashlib.sha256()
        k = min(self._cend - pos, len(data))
        if self._hash is not None:
            self._hash.update(data[:k])
        room = _LEAD - len(self._lead)
        if room > 0:
            self._lead.extend(data[:k if k < room else room])
        if pos + k == self._cend:
            self.self_signed = _names_itself(self._lead)
            self._lead = None
            self._cend = -1
            if self._hash is not None:
                digest = self._hash.digest()
                self._hash = None
                self.fingerprint = _hex(digest)
                if digest in self._pins:
                    self.verified = True
                else:
                    self.refused = PIN_MISMATCH


def _tlv(der, i):
    # DER element at i: (offset of its content, offset past its end)
    n = der[i + 1]
    if n < 0x80:
        return i + 2, i + 2 + n
    k = n & 0x7F
    if k > 3:
        raise IndexError("not a certificate")     # garbage: no name is that long
    v = 0
    for j in range(i + 2, i + 2 + k):
        v = (v << 8) | der[j]
    return i + 2 + k, i + 2 + k + v


def _names_itself(der):
    """True when the certificate's issuer and subject are the same name (from its first
    bytes: Certificate, TBSCertificate, [0] version, serial, signature, issuer, validity,
    subject); None when they are not within `der`."""
    try:
        i = _tlv(der, _tlv(der, 0)[0])[0]   # into Certificate, into TBSCertificate
        if der[i] == 0xA0:
            i = _tlv(der, i)[1]             # version
        i = _tlv(der, _tlv(der, i)[1])[1]   # serial, signature algorithm
        issuer = _tlv(der, i)[1]
        subject = _tlv(der, _tlv(der, issuer)[1])
        if subject[1] > len(der):
            return None
        return der[i:issuer] == der[_tlv(der, issuer)[1]:subject[1]]
    except IndexError:
        return None


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
