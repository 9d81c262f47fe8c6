# One MQTT connection on the wire: the TCP socket (and the TLS socket over it), knowing when
# something can be read without waiting, one write per flight, and the broker's packets read
# one at a time and checked against MQTT 3.1.1 before the client sees them.
# No session state here: node.mqtt keeps that (packet ids, messages in flight, keepalive).
#
#   open_tcp(host, port, timeout)   a connected TCP socket with a timeout and TCP_NODELAY
#   Link(raw, sock, watch, max_packet)
#     .read()        one packet: returns its first byte; pid, code, flags, topic, msg hold
#                    what it carried. ProtocolError for anything malformed (a remaining length
#                    of 5 bytes, a packet over max_packet, which is refused from its length
#                    alone, before anything is allocated for it, a topic running past its
#                    packet, an unknown type...), OSError when the connection ends.
#     .readable(ms)  a packet has arrived (or begins to), within ms
#     .more_now()    the same, at once, without asking the TLS library (for draining acks)
#     .write(data), .close()
import select
import socket
from micropython import const

from node import mqttcodec as codec
from node.mqttcodec import ProtocolError

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)
_TRUNCATED = "connection closed in the middle of a packet (truncated)"

# Remaining length of the packets a broker may send besides PUBLISH, by first byte.
_FIXED = {codec.CONNACK: 2, codec.PUBACK: 2, codec.SUBACK: 3, codec.UNSUBACK: 2,
          codec.PINGRESP: 0}


def open_tcp(host, port, timeout):
    """A connected TCP socket with a timeout and TCP_NODELAY (the client's socket_factory)."""
    try:
        addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    except OSError as e:
        raise OSError(e.args[0], "cannot resolve broker host %r: check mqtt.host and DNS" % host)
    s = socket.socket()
    try:
        s.settimeout(timeout)
        try:
            s.setsockopt(getattr(socket, "IPPROTO_TCP", _IPPROTO_TCP),
                         getattr(socket, "TCP_NODELAY", _TCP_NODELAY), 1)
        except (OSError, AttributeError):
            pass  # a port without it still works, only slower
        s.connect(addr)
    except OSError as e:
        s.close()
        raise OSError(e.args[0], "no TCP connection to %s:%d: is the broker running there, and "
                      "is the port right?" % (host, port))
    return s


class Link:
    def __init__(self, raw, sock, watch=None, max_packet=8192):
        self.raw = raw
        self.sock = sock
        self.max_packet = max_packet
        self._watch = watch         # node.tlswatch: bytes it read ahead are invisible to poll
        self._poll_raw = select.poll()
        self._poll_raw.register(raw, select.POLLIN)
        if sock is raw:
            self._poller = self._poll_raw
        else:
            # The TLS socket too: it knows about bytes it decrypted but did not hand out.
            # (Polling it costs 1 ms on the unix port, nothing on the boards.)
            self._poller = select.poll()
            self._poller.register(raw, select.POLLIN)
            self._poller.register(sock, select.POLLIN)
        self._buf = bytearray(4)
        self.pid = 0
        self.code = 0
        self.flags = 0
        self.topic = None
        self.msg = None

    def close(self):
        for s in (self.sock, self.raw):
            try:
                s.close()
            except OSError:
                pass

    def write(self, data):
        self.sock.write(data)

    def readable(self, ms):
        if self._watch is not None and self._watch.buffered():
            return True
        for _ in self._poller.ipoll(ms if ms > 0 else 0):
            return True
        return False

    def more_now(self):
        if self._watch is not None and self._watch.buffered():
            return True
        for _ in self._poll_raw.ipoll(0):
            return True
        return False

    def read(self):
        b = self._buf
        sock = self.sock
        if sock.readinto(b, 2) != 2:
            raise OSError(104, "the broker closed the connection")
        head = b[0]
        x = b[1]
        if head == codec.PUBACK and x == 2:
            # the hot path of a flush
            if sock.readinto(b, 2) != 2:
                raise ProtocolError(_TRUNCATED)
            self.pid = (b[0] << 8) | b[1]
            return head
        n = x & 0x7F
        shift = 7
        k = 1
        while x & 0x80:
            if k == 4:
                raise ProtocolError("malformed remaining length: more than 4 bytes")
            if sock.readinto(b, 1) != 1:
                raise ProtocolError(_TRUNCATED)
            x = b[0]
            n |= (x & 0x7F) << shift
            shift += 7
            k += 1
        if n > self.max_packet:
            raise ProtocolError("incoming packet of %d bytes is over max_packet (%d): refused"
                                % (n, self.max_packet))
        if head & 0xF0 == codec.PUBLISH:
            self._publish(head, n)
            return head
        want = _FIXED.get(head)
        if want is None:
            raise ProtocolError("unexpected packet type 0x%02x" % head)
        if n != want:
            raise ProtocolError("packet type 0x%02x with %d bytes, not %d" % (head, n, want))
        if n and sock.readinto(b, n) != n:
            raise ProtocolError(_TRUNCATED)
        if head == codec.CONNACK:
            if b[0] & 0xFE:
                raise ProtocolError("CONNACK flags 0x%02x" % b[0])
            self.flags = b[0]
            self.code = b[1]
        elif n:
            self.pid = (b[0] << 8) | b[1]
            if head == codec.SUBACK:
                if b[2] not in (0, 1, 2, 0x80):
                    raise ProtocolError("SUBACK return code 0x%02x" % b[2])
                self.code = b[2]
        return head

    def _publish(self, head, n):
        qos = (head >> 1) & 3
        if qos > 1:
            raise ProtocolError("PUBLISH with QoS %d: this client subscribes with QoS 0 or 1" % qos)
        need = 4 if qos else 2
        if n < need:
            raise ProtocolError("PUBLISH of %d bytes is too short" % n)
        b = self._buf
        if self.sock.readinto(b, 2) != 2:
            raise ProtocolError(_TRUNCATED)
        tl = (b[0] << 8) | b[1]
        if need + tl > n:
            raise ProtocolError("PUBLISH topic length %d runs past the end of its packet (%d bytes)"
                                % (tl, n))
        self.topic = self._bytes(tl)
        self.pid = 0
        if qos:
            if self.sock.readinto(b, 2) != 2:
                raise ProtocolError(_TRUNCATED)
            self.pid = (b[0] << 8) | b[1]
            if not self.pid:
                raise ProtocolError("PUBLISH with QoS 1 and packet id 0")
        self.msg = self._bytes(n - need - tl)

    def _bytes(self, n):
        if not n:
            return b""
        data = self.sock.read(n)
        if data is None or len(data) != n:
            raise ProtocolError(_TRUNCATED)
        return data
