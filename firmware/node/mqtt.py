# MQTT 3.1.1 client with umqtt.robust's API, for battery nodes that must not lose a reading.
#
#   from node.mqtt import MQTTClient
#   c = MQTTClient(client_id, server, port=0, user=None, password=None, keepalive=0, ssl=None,
#                  timeout=10, window=0, max_packet=8192, reconnect_tries=10,
#                  socket_factory=None, clock=None)
#
# umqtt.robust's methods keep their meaning: connect(clean_session=True) -> session present,
# publish(topic, msg, retain=False, qos=0), subscribe(topic, qos=0), unsubscribe(topic),
# set_callback(f) with f(topic, msg), set_last_will(topic, msg, retain=False, qos=0),
# check_msg(attempts=2), wait_msg(), ping(), disconnect(), reconnect(), and DELAY, DEBUG,
# delay(i), log(in_reconnect, e). ssl is any object with wrap_socket(sock, server_hostname=)
# (node.tls.make_context makes one). publish(qos=1) returns once the PUBACK is in, as
# umqtt's does; publish, check_msg and wait_msg reconnect and carry on when the connection
# breaks. Where umqtt.robust falls short, this client does not:
# - nothing blocks forever: every wait is bounded by `timeout` (seconds); a broker that stops
#   answering is dropped and reconnected; reconnect() backs off from DELAY (1 s) to MAX_DELAY
#   (120 s) with jitter (node.backoff) and raises GaveUp after reconnect_tries;
# - unacknowledged QoS 1 messages are sent again right after every CONNECT, same packet id,
#   DUP set, in their original order (nothing else is resent); without a window, a publish()
#   that finally raises leaves its message to the caller, as umqtt's would;
# - PINGREQ goes out when nothing else did for 3/4 of the keepalive (umqtt never pings);
# - an incoming packet over max_packet bytes is refused before anything is allocated for it,
#   and a broker that breaks MQTT 3.1.1 gets a ProtocolError and a closed socket
#   (node.mqttlink);
# - TCP_NODELAY is set, and what can go out together goes out in one write.
#
# Beyond umqtt (opt-in, so umqtt programs keep their meaning):
# - window=N: publish(qos=1) returns the packet id at once while fewer than N messages wait
#   for their PUBACK; acknowledgements are matched by id. publish_many(messages, timeout)
#   keeps the window full, one write per refill; wait_acks(timeout) waits for every PUBACK;
#   both return False at the timeout (pending() keeps the rest) and reconnect within it.
# - publish(..., pid=n, dup=True) sends with the caller's packet id (e.g. derived from a
#   reading's number) and DUP: a message sent before deep sleep goes out again unchanged.
# - With a window, publish(qos=1) before connect() queues the message; connect() then sends
#   CONNECT and every queued message in one flight, without waiting for CONNACK.
# - set_ack_callback(f): f(pid) for every PUBACK; pending() lists the ids still unacknowledged.
# - ping_if_due(): the keepalive, for an idle loop (check_msg and wait_msg call it too).
# - backoff_ms(i) is the delay before try i + 1 (node.backoff.delay_ms, pure, for deep sleep).
# - socket_factory(host, port, timeout) -> connected socket (select.poll must take it), and
#   clock (an object with ticks_ms, ticks_add, ticks_diff and sleep_ms, like the time module)
#   can be swapped for tests and other radios.
#
# Errors: MQTTException (umqtt's) and its MQTTRefused (CONNACK code != 0, args (code, text));
# OSError for the network; ProtocolError (an OSError) for a broker that broke MQTT 3.1.1;
# GaveUp (an OSError) when reconnecting ran out of tries; node.tls.TLSError (a ValueError)
# when the broker could not be authenticated. A refused login or TLS is not retried.
import time
from micropython import const

from node import mqttcodec as codec
from node.backoff import delay_ms
from node.mqttcodec import GaveUp, MQTTException, MQTTRefused, ProtocolError  # noqa: F401
from node.mqttlink import Link, open_tcp

_ETIMEDOUT = const(110)
_ENOTCONN = const(107)
_MAX_WINDOW = const(1000)
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"


class MQTTClient:
    DELAY = 1          # s, first reconnect delay (umqtt.robust waits a fixed DELAY = 2 s)
    MAX_DELAY = 120    # s, the longest
    DEBUG = False

    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0,
                 ssl=None, timeout=10, window=0, max_packet=8192, reconnect_tries=10,
                 socket_factory=None, clock=None):
        if ssl is True:
            raise ValueError("ssl takes a context with wrap_socket (node.tls.make_context), not True")
        if not timeout or timeout <= 0:
            raise ValueError("timeout must be a number of seconds > 0: nothing may block forever")
        if not 0 <= window <= _MAX_WINDOW:
            raise ValueError("window %r must be 0 (wait for each PUBACK) to %d" % (window, _MAX_WINDOW))
        if port == 0:
            port = 8883 if ssl else 1883
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.timeout = timeout
        self.window = window
        self.max_packet = max_packet
        self.reconnect_tries = reconnect_tries
        self._factory = socket_factory or open_tcp
        self._clock = clock or time
        self.sock = None            # the (TLS) socket, as umqtt names it; None: not connected
        self._link = None
        self.pid = 0
        self.cb = None
        self._ack_cb = None
        self.lw_topic = None
        self.lw_msg = None
        self.lw_qos = 0
        self.lw_retain = False
        # QoS 1 publishes not yet acknowledged: their ids in send order, and id -> packet.
        # The first _nsent went out on this connection; the first _ever went out at all.
        self._pids = []
        self._pkts = {}
        self._nsent = 0
        self._ever = 0
        self._last_tx = 0
        self._ping_at = None
        self._connack = None
        self._wait_pid = 0          # packet id of the SUBSCRIBE/UNSUBSCRIBE being answered
        self._reply = None
        # True: a QoS 1 message received is acknowledged by ack_held(), once handled, so one
        # that a broken connection left unhandled comes again (DUP) at the next connect.
        self.defer_acks = False
        self._held = []

    # --- umqtt.robust's hooks ---

    def delay(self, i):
        self._clock.sleep_ms(self.backoff_ms(i))

    def backoff_ms(self, i):
        return delay_ms(i, None, int(self.DELAY * 1000), int(self.MAX_DELAY * 1000))

    def log(self, in_reconnect, e):
        if self.DEBUG:
            print("mqtt reconnect: %r" % e if in_reconnect else "mqtt: %r" % e)

    # --- setup ---

    def set_callback(self, f):
        self.cb = f

    def set_ack_callback(self, f):
        """f(pid) is called for every PUBACK (e.g. to drop that reading from a ring buffer)."""
        self._ack_cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        if not 0 <= qos <= 2:
            raise ValueError("last will QoS %r must be 0, 1 or 2" % qos)
        self.lw_topic = codec.check_topic(topic)
        self.lw_msg = codec.utf8(msg, "last will message")
        self.lw_qos = qos
        self.lw_retain = retain

    def ack_held(self):
        """With defer_acks: PUBACK (one write) for the QoS 1 messages received so far."""
        held, self._held = self._held, []
        if held:
            self._send(b"".join(codec.puback_packet(p) for p in held))

    def pending(self):
        """Packet ids of the QoS 1 messages not yet acknowledged, in send order."""
        return list(self._pids)

    # --- connection ---

    def connect(self, clean_session=True):
        """Open the connection and log in; returns the broker's session-present flag.

        CONNECT goes out in one write with every unacknowledged (or queued) QoS 1 message.
        """
        self._close()
        pkt = codec.connect_packet(self.client_id, clean_session, self.keepalive, self.user,
                                   self.pswd, self.lw_topic, self.lw_msg, self.lw_qos,
                                   self.lw_retain)
        raw = self._factory(self.server, self.port, self.timeout)
        try:
            # Server authentication happens in here, before CONNECT (and its password) is sent.
            sock = self.ssl.wrap_socket(raw, server_hostname=self.server) if self.ssl else raw
        except BaseException:
            raw.close()
            raise
        # node.tls reads ahead of the TLS library: the link asks it about bytes a poll misses.
        watch = getattr(self.ssl, "last_watch", None) if self.ssl else None
        self._link = Link(raw, sock, watch, self.max_packet)
        self.sock = sock
        self._connack = None
        # Everything sent before goes again, marked DUP (MQTT 3.1.1, 4.4).
        pkts = self._pkts
        for p in self._pids[:self._ever]:
            pkts[p][0] |= codec.DUP
        try:
            self._flush(pkt)
            deadline = self._after(self.timeout)
            while self._connack is None:
                if not self._next_packet(deadline):
                    raise OSError(_ETIMEDOUT, "no CONNACK from %s:%d within %s s: the broker does "
                                  "not answer" % (self.server, self.port, self.timeout))
        except BaseException:
            self._close()
            raise
        flags, code = self._connack
        if code:
            self._close()
            raise MQTTRefused(code)
        return flags & 1

    def reconnect(self, deadline=None):
        """connect(clean_session=False) with backoff; GaveUp after reconnect_tries failures,
        or when the next delay would end past `deadline` (ticks_ms). A refused login or TLS
        (not a network fault) is raised at once."""
        i = 0
        clock = self._clock
        while True:
            try:
                return self.connect(False)
            except MQTTRefused as e:
                if e.code != 3:         # 3: server unavailable, worth another try
                    raise
                err = e
            except OSError as e:
                err = e
            self.log(True, err)
            i += 1
            if i >= self.reconnect_tries:
                raise GaveUp(_errno(err), "gave up after %d tries to connect to %s:%d; last error: "
                             "%s" % (i, self.server, self.port, err))
            if deadline is None:
                self.delay(i)
            else:
                d = self.backoff_ms(i)
                if clock.ticks_diff(deadline, clock.ticks_ms()) < d:
                    raise GaveUp(_errno(err), "no connection to %s:%d before the deadline; last "
                                 "error: %s" % (self.server, self.port, err))
                clock.sleep_ms(d)

    def disconnect(self):
        """DISCONNECT (the broker then drops the last will) and close. Unacknowledged QoS 1
        messages stay in pending() and go out again with the next connect()."""
        if self._link is not None:
            try:
                self._send(_DISCONNECT)
            except OSError:
                pass
        self._close()

    def _close(self):
        if self._link is not None:
            self._link.close()
        self._link = None
        self.sock = None
        self._nsent = 0
        self._ping_at = None
        self._held = []             # the broker sends them again on the next connection

    # --- publishing ---

    def publish(self, topic, msg, retain=False, qos=0, pid=None, dup=False):
        """Publish; for QoS 1 returns the packet id.

        Without a window it returns once the PUBACK is in (umqtt's meaning), reconnecting and
        resending (DUP) as often as it takes; when it raises (GaveUp) the message is the
        caller's again, not kept. With a window it returns at once while the window has room,
        before connect() it queues, and the client keeps every message until its PUBACK.
        """
        topic = codec.check_topic(topic)
        if qos == 0:
            if pid is not None or dup:
                raise ValueError("packet id and DUP are for QoS 1 only")
            return self._robust(self._send, codec.publish_packet(topic, msg, 0, retain))
        if qos != 1:
            raise ValueError("QoS %r: this client publishes with QoS 0 or 1" % qos)
        if self.window and self._link is None and len(self._pids) >= self.window:
            raise MQTTException("in-flight window full (%d messages): connect() to send them"
                                % self.window)
        pid = self._take_pid(pid)
        pkt = codec.publish_packet(topic, msg, 1, retain, pid, dup)
        if self.window:
            if self._link is None:
                self._track(pid, pkt)         # goes out with the next connect()
                return pid
            self._robust(self._wait_room, None)
            self._track(pid, pkt)
            self._robust(self._flush, None)
            return pid
        self._track(pid, pkt)
        try:
            self._robust(self._deliver, pid)
        except BaseException:
            self._forget(pid)
            raise
        return pid

    def publish_many(self, messages, timeout=None):
        """QoS 1 publish of each (topic, msg) or (topic, msg, pid, dup) of `messages`, an
        iterable read lazily, keeping the window full (one write per refill).

        Returns True once every message is acknowledged, False when `timeout` seconds passed
        first (what is unacknowledged stays in pending() and goes out with the next connect).
        Reconnects (with backoff, within the timeout) when the connection breaks.
        """
        deadline = None if timeout is None else self._after(timeout)
        window = self.window or 1
        it = iter(messages)
        more = True
        fails = 0
        batch = _Batch()
        pids = self._pids
        pkts = self._pkts
        while True:
            while more and len(pids) < window:
                try:
                    m = next(it)
                except StopIteration:
                    more = False
                    break
                if len(m) > 2:
                    pid = self._take_pid(m[2])
                    dup = len(m) > 3 and m[3]
                else:
                    pid = self.pid % 65535 + 1      # _take_pid, inline for the common case
                    if pid in pkts or pid == self._wait_pid:
                        pid = self._take_pid(None)
                    else:
                        self.pid = pid
                    dup = False
                pids.append(pid)
                pkts[pid] = batch.packet(m[0], m[1], pid, dup)
            if not pids:
                if not more:
                    return True
                continue
            try:
                self._need_link()
                self._flush()
                if not self._take_acks(deadline):
                    return False
            except OSError as e:
                self._close()
                self.log(False, e)
                fails += 1
                try:
                    if fails >= self.reconnect_tries:
                        raise GaveUp(_errno(e), "gave up after %d failures: %s" % (fails, e))
                    self.reconnect(deadline)
                except GaveUp:
                    if deadline is not None:
                        return False
                    raise

    def wait_acks(self, timeout=None):
        """Wait until every QoS 1 message is acknowledged: True, or False after `timeout` s."""
        return self.publish_many((), timeout)

    def _take_pid(self, pid):
        if pid is None:
            pid = self.pid
            while True:
                pid = pid % 65535 + 1
                if pid != self._wait_pid and pid not in self._pkts:
                    break
            self.pid = pid
            return pid
        if not 0 < pid < 65536:
            raise ValueError("packet id %r must be 1..65535" % pid)
        if pid in self._pkts or pid == self._wait_pid:
            raise ValueError("packet id %d is in flight already: ids must not be reused until "
                             "acknowledged" % pid)
        return pid

    def _track(self, pid, pkt):
        self._pids.append(pid)
        self._pkts[pid] = pkt

    def _forget(self, pid):
        if self._pkts.pop(pid, None) is not None:
            self._drop(self._pids.index(pid))

    def _drop(self, i):
        self._pids.pop(i)
        if i < self._nsent:
            self._nsent -= 1
        if i < self._ever:
            self._ever -= 1

    def _acked(self, pid):
        if self._pkts.pop(pid, None) is None:
            raise ProtocolError("PUBACK for packet id %d, which is not in flight" % pid)
        pids = self._pids
        if pids[0] == pid and self._nsent and self._ever:
            pids.pop(0)                 # the usual case: acks come in order
            self._nsent -= 1
            self._ever -= 1
        else:
            self._drop(pids.index(pid))
        if self._ack_cb:
            self._ack_cb(pid)

    def _deliver(self, pid):
        # Stop-and-wait: write what this connection has not seen, wait for pid's PUBACK.
        self._need_link()
        self._flush()
        deadline = self._after(self.timeout)
        while pid in self._pkts:
            if not self._next_packet(deadline):
                raise OSError(_ETIMEDOUT, "no PUBACK for packet id %d within %s s: the broker "
                              "stopped answering" % (pid, self.timeout))

    def _wait_room(self, _):
        self._need_link()
        deadline = self._after(self.timeout)
        while len(self._pids) >= self.window:
            if not self._next_packet(deadline):
                raise OSError(_ETIMEDOUT, "no PUBACK within %s s with the window full: the broker "
                              "stopped answering" % self.timeout)

    def _take_acks(self, deadline):
        # Wait for a packet (bounded by timeout and deadline), then take every one that is
        # already here, so the next refill goes out as one write. Refilling as soon as nothing
        # more is here (rather than waiting for more acks) keeps a broker without TCP_NODELAY
        # from holding its PUBACKs for our delayed ACK. False: the deadline passed first.
        clock = self._clock
        limit = self._after(self.timeout)
        if deadline is not None and clock.ticks_diff(deadline, limit) < 0:
            limit = deadline
        if not self._next_packet(limit):
            if deadline is not None and limit is deadline:
                return False
            raise OSError(_ETIMEDOUT, "no PUBACK within %s s: the broker stopped answering"
                          % self.timeout)
        more_now = self._link.more_now
        pids = self._pids
        while pids and more_now():
            self._read_packet()
        return True

    # --- subscriptions ---

    def subscribe(self, topic, qos=0):
        if self.cb is None:
            raise ValueError("set_callback() before subscribe(): messages need somewhere to go")
        if qos not in (0, 1):
            raise ValueError("QoS %r: this client subscribes with QoS 0 or 1" % qos)
        code = self._request(codec.subscribe_packet(self._take_pid(None), topic, qos), "SUBACK")
        if code == 0x80:
            raise MQTTException(0x80, "subscription to %r refused (SUBACK 0x80): the broker's ACL "
                                "does not let this user read it" % topic)
        return code

    def unsubscribe(self, topic):
        self._request(codec.unsubscribe_packet(self._take_pid(None), topic), "UNSUBACK")

    def _request(self, pkt, answer):
        # SUBSCRIBE or UNSUBSCRIBE (its packet id in bytes 2-3 of the header), and its answer.
        self._need_link()
        self._wait_pid = self.pid
        self._reply = None
        try:
            self._send(pkt)
            deadline = self._after(self.timeout)
            while self._reply is None:
                if not self._next_packet(deadline):
                    self._close()
                    raise OSError(_ETIMEDOUT, "no %s within %s s" % (answer, self.timeout))
        finally:
            self._wait_pid = 0
        return self._reply

    # --- receiving ---

    def check_msg(self, attempts=2):
        """Handle one packet if one is waiting, else return None at once (umqtt's meaning)."""
        while attempts:
            try:
                self._need_link()
                self.ping_if_due()
                if self._link.readable(0):
                    return self._read_packet()
                return None
            except OSError as e:
                self._close()
                self.log(False, e)
            self.reconnect()
            attempts -= 1

    def wait_msg(self, timeout=None):
        """Wait for one packet and handle it; returns its type byte, or None for PINGRESP and
        when nothing came within `timeout` seconds (default: the client's timeout)."""
        return self._robust(self._wait_one, timeout)

    def _wait_one(self, timeout):
        self._need_link()
        head = self._next_packet(self._after(timeout or self.timeout), True)
        return None if head == codec.PINGRESP else head

    def ping(self):
        self._need_link()
        self._send(_PINGREQ)
        if self._ping_at is None:
            self._ping_at = self._clock.ticks_ms()

    def ping_if_due(self):
        """Keepalive for idle loops: PINGREQ when nothing went out for 3/4 of the keepalive;
        OSError (connection closed) when a PINGRESP is overdue. True when it pinged."""
        if not self.keepalive or self._link is None:
            return False
        clock = self._clock
        now = clock.ticks_ms()
        if self._ping_at is not None:
            if clock.ticks_diff(now, self._ping_at) > self.timeout * 1000:
                self._close()
                raise OSError(_ETIMEDOUT, "no PINGRESP within %s s: the broker stopped answering"
                              % self.timeout)
            return False
        if clock.ticks_diff(now, self._last_tx) >= self.keepalive * 750:
            self.ping()
            return True
        return False

    def _ping_wait_ms(self):
        # ms until ping_if_due has something to do (a large number without keepalive)
        if not self.keepalive or self._link is None:
            return 1 << 30
        clock = self._clock
        now = clock.ticks_ms()
        if self._ping_at is not None:
            return max(0, self.timeout * 1000 - clock.ticks_diff(now, self._ping_at)) + 1
        return max(0, self.keepalive * 750 - clock.ticks_diff(now, self._last_tx))

    # --- the wire ---

    def _robust(self, op, arg):
        # umqtt.robust: a broken connection is reconnected (with backoff) and op run again;
        # GaveUp when it keeps failing.
        fails = 0
        while True:
            try:
                return op(arg)
            except OSError as e:
                self._close()
                self.log(False, e)
                fails += 1
                if fails >= self.reconnect_tries:
                    raise GaveUp(_errno(e), "gave up after %d failures: %s" % (fails, e))
            self.reconnect()

    def _after(self, seconds):
        clock = self._clock
        return clock.ticks_add(clock.ticks_ms(), int(seconds * 1000))

    def _need_link(self):
        if self._link is None:
            raise OSError(_ENOTCONN, "not connected: call connect() first")

    def _send(self, data):
        self._need_link()
        try:
            self._link.write(data)
        except BaseException:
            self._close()
            raise
        self._last_tx = self._clock.ticks_ms()

    def _flush(self, first=None):
        # One write: `first` (CONNECT), then every in-flight message this connection has not
        # seen, in order.
        n = self._nsent
        pids = self._pids
        if n == len(pids):
            if first is not None:
                self._send(first)
            return
        pkts = self._pkts
        parts = [pkts[p] for p in pids[n:]]
        if first is not None:
            parts.insert(0, first)
        try:
            self._send(parts[0] if len(parts) == 1 else b"".join(parts))
        finally:
            self._ever = len(pids)      # attempted: from now on a resend is a DUP
        self._nsent = len(pids)

    def _next_packet(self, deadline, keepalive=False):
        # Read and handle one packet: its first byte, or None when none came by the deadline.
        clock = self._clock
        while True:
            left = clock.ticks_diff(deadline, clock.ticks_ms())
            if keepalive:
                self.ping_if_due()
                left = min(left, self._ping_wait_ms())
            if self._link.readable(left if left > 0 else 0):
                return self._read_packet()
            if clock.ticks_diff(deadline, clock.ticks_ms()) <= 0:
                return None

    def _read_packet(self):
        # One packet from the broker, handled; returns its first byte. Any error closes.
        link = self._link
        try:
            head = link.read()
            if head == codec.PUBACK and self._connack is not None:
                self._acked(link.pid)
            elif self._connack is None and head != codec.CONNACK:
                raise ProtocolError("packet type 0x%02x before CONNACK" % head)
            elif head & 0xF0 == codec.PUBLISH:
                if self.cb:
                    self.cb(link.topic, link.msg)
                if head & 0x06:
                    if self.defer_acks:
                        self._held.append(link.pid)
                    else:
                        self._send(codec.puback_packet(link.pid))
            elif head == codec.PINGRESP:
                self._ping_at = None
            elif head == codec.CONNACK:
                if self._connack is not None:
                    raise ProtocolError("a second CONNACK")
                self._connack = (link.flags, link.code)
            else:                               # SUBACK, UNSUBACK
                if link.pid != self._wait_pid or self._reply is not None:
                    raise ProtocolError("%s for packet id %d, which was not asked for"
                                        % ("SUBACK" if head == codec.SUBACK else "UNSUBACK",
                                           link.pid))
                self._reply = link.code if head == codec.SUBACK else 0
            return head
        except BaseException:
            self._close()
            raise


class _Batch:
    """Packets for publish_many: one of the same topic and size as the last is a copy of it
    with a new id and payload, cheaper than building it anew."""

    def __init__(self):
        self.topic = self.topic_b = self.last = None
        self.size = self.off = 0

    def packet(self, topic, msg, pid, dup):
        if isinstance(msg, str):
            msg = msg.encode()
        last = self.last
        if topic is self.topic and last is not None and len(msg) == self.size and not dup:
            pkt = bytearray(last)
            pkt[0] = 0x32                   # PUBLISH, QoS 1 (the last may be marked DUP since)
            off = self.off
            pkt[off] = pid >> 8
            pkt[off + 1] = pid & 0xFF
            pkt[off + 2:] = msg
            return pkt
        if topic is not self.topic:
            self.topic, self.topic_b = topic, codec.check_topic(topic)
        pkt = codec.publish_packet(self.topic_b, msg, 1, False, pid, dup)
        self.last, self.size, self.off = pkt, len(msg), len(pkt) - len(msg) - 2
        return pkt


def _errno(e):
    a = getattr(e, "args", None)
    return a[0] if a and isinstance(a[0], int) else 103
