# The TCP socket as the TLS library's stream (node.tls hands it to the library in place of the
# socket), with a deadline on the handshake and then on the connection. A module of its own:
# it lives as long as the connection, while node.tls (the context that makes connections) can
# go once the handshake is done.
import io
import select
import time
from micropython import const

_EAGAIN = const(11)
_EPROTO = const(71)
_ETIMEDOUT = const(110)
_ALERT = const(21)               # a TLS record's type
_POLL = const(3)                 # the stream protocol's ioctl requests
_CLOSE = const(4)


class Deadline(io.IOBase):
    """The TCP socket as the TLS library's stream, with a deadline (ticks_ms, or None) on the
    whole handshake and then on the connection: a server that trickles or stalls cannot hold
    a battery node awake. Errors go back to the TLS library as negative errno values: an
    exception would unwind through its C code and leak its buffers. node.tlsguard adds what
    pin mode on axTLS needs; seal() what mbedtls needs once the handshake is done."""

    def __init__(self, sock, deadline=None, timeout=None):
        self._sock = sock
        self._poller = self._reader = None
        self._timeout = timeout      # the socket's own timeout (s) as set, None: it waits
        self.deadline = deadline
        self.timed_out = False
        self._settled = False        # seal(): the handshake is done
        self.asked = False           # sealed, the TLS library answered the server with an alert

    def seal(self):
        """The handshake is done (mbedtls). mbedtls reads a HelloRequest itself and answers it
        with a no_renegotiation alert, then goes on; MicroPython's mbedtls sends no alert
        otherwise (not even close_notify), so from here on an alert it writes answers
        something the server should not have sent (a request to renegotiate, or a record it
        could not read): it is not sent, and the connection ends (asked)."""
        self._settled = True

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
            if not self.readable(left if cut else int(wait * 1000)):
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

    def readable(self, ms):
        """Bytes wait on the socket within ms (0: now), left there."""
        if self._reader is None:
            self._reader = select.poll()
            self._reader.register(self._sock, select.POLLIN)
        for _ in self._reader.ipoll(ms):
            return True
        return False

    def write(self, buf):
        self._left()
        if self.timed_out:
            return -_ETIMEDOUT
        if (self._settled and len(buf) > 5 and buf[0] == _ALERT
                and (buf[3] << 8 | buf[4]) == len(buf) - 5):      # one whole alert record
            self.asked = True                # see seal()
            return -_EPROTO
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
