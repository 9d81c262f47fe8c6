# An MQTT broker inside the test's own MicroPython process, at the far end of a real loopback
# TCP connection, for device tests of node.mqtt: it answers what the client writes (CONNACK,
# PUBACK, SUBACK, ...) by a policy the test sets, and the test can send any bytes it likes.
#
# The client gets a FakeConn (io.IOBase) as its socket: its writes go to a real socket and the
# broker answers at once (no threads: the answer is written before write() returns); its reads,
# timeouts, EOF and poll are those of the real socket (the kernel's file descriptor is handed to
# select.poll). The packets are decoded here independently of node.mqtt.packets.
import errno
import io
import select
import socket
import time

_PORT0 = 47000


def decode(buf):
    """Complete packets at the start of buf: ([(first byte, body bytes)], bytes used)."""
    out = []
    i = 0
    while len(buf) - i >= 2:
        n = 0
        mult = 1
        j = i + 1
        while True:
            if j >= len(buf):
                return out, i
            b = buf[j]
            n += (b & 127) * mult
            mult *= 128
            j += 1
            if not b & 128:
                break
        if len(buf) - j < n:
            break
        out.append((buf[i], bytes(buf[j:j + n])))
        i = j + n
    return out, i


def u16(b, i=0):
    return (b[i] << 8) | b[i + 1]


def rl(n):
    # remaining length bytes, written out independently of the client's codec
    out = bytearray()
    while True:
        d = n % 128
        n //= 128
        out.append(d | 128 if n else d)
        if not n:
            return bytes(out)


def publish_bytes(topic, msg, qos=0, pid=0, dup=False, retain=False):
    body = bytes((len(topic) >> 8, len(topic) & 255)) + topic
    if qos:
        body += bytes((pid >> 8, pid & 255))
    body += msg
    head = 0x30 | (8 if dup else 0) | (qos << 1) | (1 if retain else 0)
    return bytes((head,)) + rl(len(body)) + body


class Publish:
    def __init__(self, head, body, conn):
        self.qos = (head >> 1) & 3
        self.dup = bool(head & 8)
        self.retain = bool(head & 1)
        tl = u16(body)
        self.topic = body[2:2 + tl]
        i = 2 + tl
        self.pid = u16(body, i) if self.qos else 0
        self.msg = body[i + 2:] if self.qos else body[i:]
        self.conn = conn

    def __repr__(self):
        return "Publish(%r, pid=%d, dup=%s)" % (self.msg, self.pid, self.dup)


class FakeBroker:
    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        port = _PORT0
        while True:
            try:
                self.listener.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
                break
            except OSError:
                port += 1
                if port > _PORT0 + 2000:
                    raise
        self.port = port
        self.listener.listen(8)
        self.conns = []
        # policy
        self.connack = 0            # CONNACK return code; None: never answer CONNECT
        self.session_present = 0
        self.suback = None          # SUBACK return code; None: grant the QoS asked for
        self.ack = True             # PUBACK every QoS 1 PUBLISH (except those in hold)
        self.hold = set()           # packet ids left unacknowledged
        self.answer_ping = True
        self.silent = set()         # connection numbers on which PUBLISH gets no PUBACK
        self.keep = True            # keep every packet in .packets/.publishes
        self.on_publish = None      # f(Publish) for each PUBLISH
        self.refuse = 0             # refuse this many connection attempts
        self.takeover = False       # close each connection right after its CONNACK (as a
                                    # broker does when another client logs in with the id)
        self.attempts = 0
        # what the client sent
        self.packets = []           # (connection number, first byte, body)
        self.publishes = []         # Publish, in arrival order

    def factory(self, host, port, timeout):
        """The client's socket_factory."""
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            raise OSError(errno.ECONNREFUSED, "fake broker refuses")
        c = socket.socket()
        c.settimeout(timeout)
        c.setsockopt(6, 1, 1)       # TCP_NODELAY: on loopback a write is then readable at once
        c.connect(socket.getaddrinfo("127.0.0.1", self.port)[0][-1])
        s, _ = self.listener.accept()
        s.setsockopt(6, 1, 1)
        s.setblocking(False)
        conn = FakeConn(self, c, s, len(self.conns))
        self.conns.append(conn)
        return conn

    @property
    def conn(self):
        return self.conns[-1]

    def send(self, data):
        """Bytes to the client on the current connection."""
        self.conn.server.write(data)

    def hangup(self):
        """Close the broker's end: the client reads EOF."""
        self.conn.server.close()
        self.conn.hung_up = True

    def release(self, pid):
        self.hold.discard(pid)
        self.send(bytes((0x40, 2, pid >> 8, pid & 255)))

    def of_type(self, head):
        return [p for p in self.packets if p[1] & 0xF0 == head]

    def close(self):
        for c in self.conns:
            try:
                c.server.close()
            except OSError:
                pass
        self.listener.close()

    def _answer(self, conn, head, body):
        if conn.hung_up:
            return                  # what followed in the same write is never read
        if self.keep:
            self.packets.append((conn.number, head, body))
        t = head & 0xF0
        out = None
        if t == 0x10:
            if self.connack is not None:
                out = bytes((0x20, 2, self.session_present, self.connack))
        elif t == 0x30:
            p = Publish(head, body, conn.number)
            if self.keep:
                self.publishes.append(p)
            if self.on_publish:
                self.on_publish(p)
            if (p.qos == 1 and self.ack and p.pid not in self.hold
                    and conn.number not in self.silent):
                out = bytes((0x40, 2, p.pid >> 8, p.pid & 255))
        elif t == 0x80:
            code = self.suback if self.suback is not None else body[-1]
            out = bytes((0x90, 3, body[0], body[1], code))
        elif t == 0xA0:
            out = bytes((0xB0, 2, body[0], body[1]))
        elif t == 0xC0:
            if self.answer_ping:
                out = b"\xd0\x00"
        if out:
            conn.server.write(out)
            if t == 0x10 and self.takeover:
                self.hangup()


class FakeConn(io.IOBase):
    """The client's end of the connection."""

    def __init__(self, broker, client, server, number):
        self.broker = broker
        self.client = client
        self.server = server
        self.number = number
        self.writes = []            # each write() the client made, as bytes
        self.closed = False
        self.hung_up = False
        self._inbuf = bytearray()

    def write(self, buf):
        data = bytes(buf)
        if self.broker.keep:
            self.writes.append(data)
        self.client.write(data)
        self._pump()
        return len(data)

    def _pump(self):
        if self.hung_up:
            return
        # The client's bytes are on their way; TCP_NODELAY on loopback makes them readable at
        # once, the short poll only guards against a slow kernel.
        p = select.poll()
        p.register(self.server, select.POLLIN)
        p.poll(50)
        while True:
            try:
                chunk = self.server.read(4096)
            except OSError:
                return
            if not chunk:
                break
            self._inbuf.extend(chunk)
        packets, used = decode(self._inbuf)
        self._inbuf = self._inbuf[used:]
        for head, body in packets:
            self.broker._answer(self, head, body)

    def readinto(self, buf, n=None):
        return self.client.readinto(buf, len(buf) if n is None else n)

    def read(self, n):
        return self.client.read(n)

    def ioctl(self, req, arg):
        if req == 10:                # MP_STREAM_GET_FILENO: poll the real socket
            return self.client.fileno()
        if req == 4:
            self.close()
            return 0
        return -1

    def setblocking(self, flag):
        self.client.setblocking(flag)

    def settimeout(self, t):
        self.client.settimeout(t)

    def close(self):
        if not self.closed:
            self.closed = True
            self.client.close()


class FakeClock:
    """The time module's ticks_ms/ticks_add/ticks_diff/sleep_ms, where sleeping (and advance)
    moves the clock forward at once instead of waiting; real time still runs underneath, so a
    wait on a socket ends."""

    def __init__(self):
        self.offset = 0
        self.sleeps = []            # (ticks when it slept, ms)

    def ticks_ms(self):
        return time.ticks_add(time.ticks_ms(), self.offset)

    def ticks_add(self, a, b):
        return time.ticks_add(a, b)

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        self.sleeps.append((self.ticks_ms(), ms))
        self.offset += ms

    def advance(self, ms):
        self.offset += ms


def client(fb, robust=False, **kw):
    """An MQTTClient (node.mqtt.client, or node.mqtt.robust's) connected through the fake broker
    fb, with the tests' usual options."""
    if robust:
        from node.mqtt.robust import MQTTClient
    else:
        from node.mqtt.client import MQTTClient
    opts = dict(user="node-1", password="pw", keepalive=60, timeout=0.5,
                socket_factory=fb.factory)
    opts.update(kw)
    return MQTTClient("node-1", "broker.test", **opts)
