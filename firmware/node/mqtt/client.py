# MQTT 3.1.1 client for battery nodes: the session (packet ids, QoS 1 messages in flight,
# the in-flight window, their resend after a new connection), keepalive, bounded waits. A
# broken connection raises OSError and keeps what was in flight for the next connect();
# node.mqtt.robust adds umqtt.robust's reconnect on top, as umqtt.robust does over umqtt.simple.
#
#   c = MQTTClient(client_id, server, port=0, user=None, password=None, keepalive=0, ssl=None,
#                  timeout=10, window=0, max_packet=4096, early=32, keep=True,
#                  socket_factory=None, clock=None)
#
# umqtt.simple's methods keep their meaning: connect(clean_session=True) -> session present,
# publish(topic, msg, retain=False, qos=0) (QoS 1 returns once the PUBACK is in),
# subscribe(topic, qos=0), unsubscribe(topic), set_callback(f) with f(topic, msg),
# set_last_will(topic, msg, retain=False, qos=0), check_msg(), wait_msg(), ping(),
# disconnect(); `sock` is the socket. ssl is any object with wrap_socket(sock,
# server_hostname=) (node.tls.make_context makes one).
#
# Where umqtt falls short, this client does not:
# - every wait is bounded by `timeout` (seconds); a broker that stops answering is an OSError;
# - unacknowledged QoS 1 messages go again right after every CONNECT, same packet id, DUP set,
#   in their original order; a publish that raised without a window is the caller's again;
# - PINGREQ goes out when nothing else did for 3/4 of the keepalive (check_msg, wait_msg and
#   ping_if_due send it), and a PINGRESP overdue by `timeout` drops the connection;
# - what the broker sends is checked against MQTT 3.1.1 (node.mqtt.packets and .receive): a
#   violation is a ProtocolError (an OSError) and closes the connection; a PUBLISH over
#   max_packet bytes is read past without allocating it, acknowledged, counted in `oversized`
#   and passed to on_oversized(topic, size) when that is set;
# - TCP_NODELAY, and what can go out together goes out in one write (up to _FLIGHT bytes).
#
# Beyond umqtt (opt-in, so umqtt programs keep their meaning):
# - window=N (1..64): publish(qos=1) returns the packet id at once while fewer than N messages
#   wait for their PUBACK. Before connect() it queues: connect() then sends CONNECT and up to
#   `early` queued messages in one flight, without waiting for CONNACK (the rest after it).
#   publish_many(messages, timeout) keeps the window full, one write per refill;
#   wait_acks(timeout) waits for every PUBACK; both return False at the timeout.
# - publish(..., pid=n, dup=True): the caller's packet id and DUP (a message sent before deep
#   sleep goes out again unchanged).
# - on_ack = f: f(pid) for every PUBACK; pending() lists the ids not yet acknowledged;
#   on_sent = f: f(pid, dup) for every QoS 1 PUBLISH once written (dup: it went out before).
# - keep=False: a message's bytes are dropped once written (its PUBACK is still matched by id),
#   for a caller that keeps its messages and sends them again itself after a new connection.
# - defer_acks = True: an incoming QoS 1 message is acknowledged by ack_held(), once handled,
#   so one that a broken connection left unhandled comes again at the next connect; one whose
#   callback returned False is not acknowledged at all (the broker sends it again).
# - socket_factory(host, port, timeout) -> connected socket, and clock (ticks_ms, ticks_add,
#   ticks_diff, sleep_ms, like the time module) can be swapped for tests and other radios.
#
# Errors: MQTTException (umqtt's) and its MQTTRefused (CONNACK code != 0: args (code, what to
# do)); OSError for the network, ProtocolError (an OSError) for a broker that broke MQTT 3.1.1;
# node.tls.TLSError (a ValueError) when the broker could not be authenticated.
# Small on purpose: a board that loads it as .mpy keeps its code in RAM. Here is what a
# program that connects and publishes runs. What only some programs call is loaded the first
# time one does (MQTTClient.__getattr__): subscribe, unsubscribe, check_msg, wait_msg, ping,
# ping_if_due, ack_held and what the broker sends to a subscriber in node.mqtt.receive;
# publish_many, wait_acks and pending in node.mqtt.many. Error texts live in node.mqtt.errors,
# imported only when one is raised.
import time
from micropython import const

from node.mqtt import MQTTException, MQTTRefused, ProtocolError, link, packets, why  # noqa: F401

_CONNACK = const(0x20)
_PUBACK = const(0x40)
_PINGRESP = const(0xD0)
_ETIMEDOUT = const(110)
_ENOTCONN = const(107)
_FLIGHT = const(512)            # bytes joined into one write at most
_SPLIT = const(256)            # a QoS 0 payload over this goes in its own write
_E_SSL = const(0)
_E_TIMEOUT = const(1)
_E_WINDOW = const(2)
_E_WILL_QOS = const(3)
_E_QOS0_ID = const(4)
_E_PUB_QOS = const(5)
_E_PID = const(7)
_E_PID_BUSY = const(8)
_E_FULL = const(15)
_E_NOT_CONN = const(17)
_E_CONNACK = const(18)
_E_PUBACK = const(19)
_E_PUBACK_W = const(20)
_E_UNKNOWN = const(37)
_E_EARLY = const(38)
_E_CONNACK2 = const(39)


class MQTTClient:
    # Rarely changed, so not in every instance's dict until set.
    cb = on_ack = on_sent = on_oversized = _will = _reply = None
    oversized = _wait_pid = 0
    defer_acks = False
    _held = ()          # with defer_acks: ids of the QoS 1 messages received, not acknowledged

    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0,
                 ssl=None, timeout=10, window=0, max_packet=4096, early=32, keep=True,
                 socket_factory=None, clock=None):
        if ssl is True:
            raise ValueError(why(_E_SSL))
        if not timeout or timeout <= 0:
            raise ValueError(why(_E_TIMEOUT))
        if not 0 <= window <= 64:
            raise ValueError(why(_E_WINDOW, window))
        self.client_id = client_id
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.timeout = timeout
        self.window = window
        self.max_packet = max_packet
        self.early = early
        self.keep = keep
        self._factory = socket_factory or link.open_tcp
        self._clock = clock or time
        self.sock = self._raw = None    # None: not connected
        # QoS 1 publishes not yet acknowledged: their ids in send order, and id -> packet.
        # The first _nsent went out on this connection; the first _ever went out at all.
        self._pids = []
        self._pkts = {}
        self._nsent = self._ever = self._last_tx = self.pid = 0
        self._ping_at = self._connack = self._poll = None
        self._buf = bytearray(4)

    def __getattr__(self, name):
        # Called for an attribute the instance and its class lack: a method of node.mqtt.many
        # or node.mqtt.receive (their METHODS), loaded with its module on first use. Bound at
        # each call, not stored: storing it would grow a dict, and a dict that grows wants a
        # block of its new size, which a flush in a small heap may not have.
        if name in ("publish_many", "wait_acks", "pending"):
            from node.mqtt import many as more
        else:
            from node.mqtt import receive as more
        if name not in more.METHODS:
            raise AttributeError(name)
        f = getattr(more, name)
        return lambda *args, **kw: f(self, *args, **kw)

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        if not 0 <= qos <= 2:
            raise ValueError(why(_E_WILL_QOS, qos))
        self._will = (packets.check_topic(topic), packets.check_topic(msg, "last will", False),
                      qos, retain)

    # --- connection ---

    def connect(self, clean_session=True, first=None, conn=None):
        """Open the connection and log in; returns the broker's session-present flag.

        CONNECT goes out in one write with the first `early` messages in flight (those sent
        before go again, DUP set: MQTT 3.1.1, 4.4); the rest follow CONNACK. first: a
        function called once the TLS handshake is done, returning QoS 1 messages (topic, msg,
        pid, dup) to queue into that flight (it needs a window), so that they take no RAM
        during the handshake. conn: (TCP socket, the socket to speak MQTT on: the TLS one,
        its broker authenticated) when the caller opened the connection itself (the node
        does, so that this module is loaded only once the handshake is done)."""
        self._close()
        raw, sock = conn or (self._dial(), None)
        try:
            if sock is None:
                sock = raw
                if self.ssl:
                    if hasattr(self.ssl, "redial"):     # node.tls
                        self.ssl.redial = self._dial        # to look at a failed handshake again
                        self.ssl.timeout = self.timeout     # the socket's, kept
                    # The broker is authenticated in here, before CONNECT (and its password).
                    sock = self.ssl.wrap_socket(raw, server_hostname=self.server)
            if first is not None:
                for m in first():
                    self.publish(m[0], m[1], False, 1, m[2], m[3])  # queued: not connected
        except BaseException:
            raw.close()
            raise
        self.sock = sock
        self._raw = raw
        self._poll = link.poller(raw, sock) if sock is not raw else link.poller(raw)
        self._connack = None
        # Built once the handshake is done: it takes no RAM while the TLS library needs it.
        pkt = packets.connect(self.client_id, clean_session, self.keepalive, self.user,
                              self.pswd, self._will)
        pkts = self._pkts
        for p in self._pids[:self._ever]:
            if pkts[p]:
                pkts[p][0] |= 8             # DUP
            else:
                self._forget(p)             # keep=False: the caller sends it again
        try:
            self._flush(pkt, self.early)
            deadline = self._after(self.timeout)
            while self._connack is None:
                self._next(deadline, _E_CONNACK)
            flags, code = self._connack
            if code:
                raise MQTTRefused(code)
            self._flush()
        except BaseException:
            self._close()
            raise
        return flags & 1

    def _dial(self):
        return self._factory(self.server, self.port, self.timeout)

    def disconnect(self, linger=False):
        """DISCONNECT (the broker then drops the last will) and close. Unacknowledged QoS 1
        messages stay in pending() and go out again with the next connect().

        linger: first read (and drop) what the broker still sends, until it closes its end or
        the timeout. A socket closed with bytes unread is reset (Linux and lwIP do so), and a
        broker then loses what it had not read yet: acknowledgements just sent, which a broker
        answers with more messages (ack_held() does), so their commands would come again."""
        sock = self.sock
        if sock is not None:
            try:
                self._send(b"\xe0\x00")
                if linger:
                    clock = self._clock
                    end = self._after(self.timeout)
                    scratch = bytearray(64)
                    while (link.ready(self._poll, clock.ticks_diff(end, clock.ticks_ms()))
                           and sock.readinto(scratch)):
                        pass
            except OSError:
                pass
        self._close()

    def _close(self):
        for s in (self.sock, self._raw):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.sock = self._raw = self._poll = self._ping_at = None
        self._nsent = 0
        self._held = ()             # the broker sends them again on the next connection

    # --- publishing ---

    def publish(self, topic, msg, retain=False, qos=0, pid=None, dup=False):
        """Publish; for QoS 1 returns the packet id.

        Without a window it returns once the PUBACK is in (umqtt's meaning); when it raises,
        the message is the caller's again. With a window it returns as soon as the message
        is in flight (before connect(): queued), and the client keeps it until its PUBACK."""
        topic = packets.check_topic(topic)
        if qos == 0:
            if pid is not None or dup:
                raise ValueError(why(_E_QOS0_ID))
            if isinstance(msg, str):
                msg = memoryview(msg)       # its UTF-8 bytes (len counts them), not a copy
            if len(msg) > _SPLIT:
                # Nothing is kept for a resend: the payload goes as it is, after the header,
                # and never needs a block of its size again in a small heap.
                self._send(packets.publish(topic, msg, 0, retain, head=True))
                self._send(msg)
            else:
                self._send(packets.publish(topic, msg, 0, retain))
            return None
        if qos != 1:
            raise ValueError(why(_E_PUB_QOS, qos))
        queue = self.window and self.sock is None
        if queue and len(self._pids) >= self.window:
            raise MQTTException(why(_E_FULL, self.window))
        pid = self._take_pid(pid)
        pkt = packets.publish(topic, msg, 1, retain, pid, dup)
        if self.window and not queue:
            deadline = self._after(self.timeout)
            while len(self._pids) >= self.window:
                self._next(deadline, _E_PUBACK_W)
        self._pids.append(pid)
        self._pkts[pid] = pkt
        if queue:
            return pid
        self._flush()
        if self.window:
            return pid
        try:
            # Stop-and-wait: the PUBACK of this one (and of those sent before it) first.
            deadline = self._after(self.timeout)
            while pid in self._pkts:
                self._next(deadline, _E_PUBACK)
        except BaseException:
            self._forget(pid)
            raise
        return pid

    def _take_pid(self, pid):
        pkts = self._pkts
        if pid is None:
            pid = self.pid
            while True:
                pid = pid % 65535 + 1
                if pid != self._wait_pid and pid not in pkts:
                    self.pid = pid
                    return pid
        if not 0 < pid < 65536:
            raise ValueError(why(_E_PID, pid))
        if pid in pkts or pid == self._wait_pid:
            raise ValueError(why(_E_PID_BUSY, pid))
        return pid

    def _forget(self, pid):
        self._pkts.pop(pid, None)
        if pid in self._pids:
            i = self._pids.index(pid)
            self._pids.pop(i)
            if i < self._nsent:
                self._nsent -= 1
            if i < self._ever:
                self._ever -= 1

    # --- the wire ---

    def _after(self, seconds):
        clock = self._clock
        return clock.ticks_add(clock.ticks_ms(), int(seconds * 1000))

    def _need(self):
        if self.sock is None:
            raise OSError(_ENOTCONN, why(_E_NOT_CONN))

    def _send(self, data):
        self._need()
        try:
            self.sock.write(data)
        except BaseException:
            self._close()
            raise
        self._last_tx = self._clock.ticks_ms()

    def _flush(self, first=None, limit=None):
        # `first` (CONNECT), then the in-flight messages this connection has not seen, in
        # order (at most `limit` of them), joined into as few writes of at most _FLIGHT bytes
        # as they fit: one TLS record each, and no large block to find in a small heap.
        n = self._nsent
        pids = self._pids
        pkts = self._pkts
        end = len(pids) if limit is None else min(len(pids), n + limit)
        parts = [] if first is None else [first]
        size = len(first) if first is not None else 0
        try:
            for i in range(n, end + 1):
                pkt = pkts[pids[i]] if i < end else None
                if parts and (pkt is None or size + len(pkt) > _FLIGHT):
                    if len(parts) > 1:
                        try:
                            parts = (b"".join(parts),)
                        except MemoryError:
                            pass            # no block that large: one write per packet
                    for p in parts:
                        self._send(p)
                    if self.on_sent:
                        for j in range(self._nsent, i):
                            self.on_sent(pids[j], pkts[pids[j]][0] & 8)
                    parts, size = [], 0
                    self._nsent = i
                if pkt is not None:
                    parts.append(pkt)
                    size += len(pkt)
        finally:
            if self._ever < end:
                self._ever = end            # attempted: from now on a resend is a DUP
        if not self.keep:
            for p in pids[n:end]:
                pkts[p] = 0

    def _next(self, deadline, error=None):
        # Read and handle one packet: its first byte. When none came by the deadline: None,
        # or with `error` (a text of node.mqtt.errors) the connection is given up as dead.
        clock = self._clock
        while True:
            left = clock.ticks_diff(deadline, clock.ticks_ms())
            if link.ready(self._poll, left):
                return self._read()
            if clock.ticks_diff(deadline, clock.ticks_ms()) <= 0:
                if error is None:
                    return None
                self._close()
                raise OSError(_ETIMEDOUT, why(error, self.timeout))

    def _read(self):
        # One packet from the broker, handled; returns its first byte. Any error closes.
        try:
            head, a, b, topic, msg = packets.read(self.sock, self._buf, self.max_packet)
            if head == _PUBACK and self._connack is not None:
                pids = self._pids
                if a not in self._pkts:
                    raise ProtocolError(_E_UNKNOWN, a)
                del self._pkts[a]
                if pids[0] == a and self._nsent and self._ever:
                    pids.pop(0)             # the usual case: acks come in order
                    self._nsent -= 1
                    self._ever -= 1
                else:
                    self._forget(a)
                if self.on_ack:
                    self.on_ack(a)
            elif self._connack is None and head != _CONNACK:
                raise ProtocolError(_E_EARLY, head)
            elif head == _PINGRESP:
                self._ping_at = None
            elif head == _CONNACK:
                if self._connack is not None:
                    raise ProtocolError(_E_CONNACK2)
                self._connack = (a, b)
            else:                               # PUBLISH, SUBACK, UNSUBACK
                from node.mqtt.receive import incoming
                incoming(self, head, a, b, topic, msg)
            return head
        except BaseException:
            self._close()
            raise
