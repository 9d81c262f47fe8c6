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
# check_msg(), wait_msg(), ping(), disconnect(), reconnect(), and DELAY, DEBUG, delay(i),
# log(in_reconnect, e). publish(qos=1) returns once the PUBACK is in, as umqtt's does, and
# publish, check_msg and wait_msg reconnect and carry on when the connection breaks.
# Where umqtt.robust falls short, this client does not:
# - nothing blocks forever: every wait is bounded by `timeout` (seconds), a broker that stops
#   answering is dropped and reconnected, and reconnect() backs off from DELAY (1 s) to
#   MAX_DELAY (120 s) with jitter (node.backoff) and raises GaveUp after reconnect_tries;
# - unacknowledged QoS 1 messages are kept and sent again, same packet id, DUP set, in their
#   original order, right after every CONNECT (and nothing else is resent);
# - PINGREQ goes out when nothing else did for 3/4 of the keepalive (umqtt never pings);
# - an incoming packet over max_packet bytes is refused before anything is allocated for it,
#   and a broker that breaks the protocol gets a ProtocolError and a closed socket;
# - TCP_NODELAY is set, and what can go out together goes out in one write.
#
# Beyond umqtt (opt-in, so umqtt programs keep their meaning):
# - window=N: publish(qos=1) returns the packet id at once while fewer than N messages wait
#   for their PUBACK; acknowledgements are matched by id. publish_many(messages, timeout)
#   keeps the window full, one write per refill; wait_acks(timeout) waits for every PUBACK.
# - publish(..., pid=n, dup=True) sends with the caller's packet id (e.g. derived from a
#   reading's number) and DUP: a message sent before deep sleep goes out again unchanged.
# - With a window, publish(qos=1) before connect() queues the message; connect() then sends
#   CONNECT and every queued message in one flight, without waiting for CONNACK.
# - set_ack_callback(f): f(pid) for every PUBACK; pending() lists the ids still unacknowledged.
# - ping_if_due(): the keepalive, for an idle loop (check_msg and wait_msg call it too).
# - socket_factory(host, port, timeout) -> connected socket, and clock (an object with
#   ticks_ms, ticks_add, ticks_diff and sleep_ms, like the time module) can be swapped for
#   tests and other radios.
#
# Errors: MQTTException (umqtt's) and its MQTTRefused (CONNACK code != 0, args (code, text));
# OSError for the network, ProtocolError (an OSError) for a broker that broke MQTT 3.1.1,
# GaveUp (an OSError) when reconnecting ran out of tries, node.tls.TLSError (a ValueError)
# when the broker could not be authenticated. A refused login or TLS is not retried.
import select
import socket
import time
from micropython import const

from node import mqttcodec as codec
from node.backoff import delay_ms
from node.mqttcodec import GaveUp, MQTTException, MQTTRefused, ProtocolError  # noqa: F401

_ETIMEDOUT = const(110)
_ENOTCONN = const(107)
_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)
_MAX_WINDOW = const(1000)
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"


def open_tcp(host, port, timeout):
    """A connected TCP socket with a timeout and TCP_NODELAY (the default socket_factory)."""
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
        self.sock = None
        self._raw = None
        self._poll_raw = None
        self._poller = None
        self.pid = 0
        self.cb = None
        self._ack_cb = None
        self.lw_topic = None
        self.lw_msg = None
        self.lw_qos = 0
        self.lw_retain = False
        # QoS 1 publishes not yet acknowledged: their ids in send order, and id -> packet.
        # The first _nsent of them went out on the current connection.
        self._pids = []
        self._pkts = {}
        self._nsent = 0
        self._ever = 0          # the first _ever of them were written at least once
        self._watch = None
        self._last_tx = 0
        self._ping_at = None
        self._connack = None
        self._wait_pid = 0      # packet id of the SUBSCRIBE/UNSUBSCRIBE being answered
        self._reply = None
        self._buf = bytearray(4)
        self._last_head = None

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
        # node.tls reads ahead of the TLS library: ask it about bytes a poll cannot see.
        self._watch = getattr(self.ssl, "last_watch", None) if self.ssl else None
        self._raw = raw
        self.sock = sock
        self._poll_raw = select.poll()
        self._poll_raw.register(raw, select.POLLIN)
        if sock is raw:
            self._poller = self._poll_raw
        else:
            # The TLS socket too: it knows about bytes it has decrypted but not handed out.
            self._poller = select.poll()
            self._poller.register(raw, select.POLLIN)
            self._poller.register(sock, select.POLLIN)
        self._connack = None
        # Everything sent before goes again, marked DUP (MQTT 3.1.1, 4.4).
        pkts = self._pkts
        for p in self._pids[:self._ever]:
            pkts[p][0] |= codec.DUP
        try:
            self._nsent = 0
            self._flush(pkt)
            if not self._pump_until_connack():
                raise OSError(_ETIMEDOUT, "no CONNACK from %s:%d within %s s: the broker does not "
                              "answer" % (self.server, self.port, self.timeout))
        except BaseException:
            self._close()
            raise
        code = self._connack[1]
        if code:
            self._close()
            raise MQTTRefused(code)
        return self._connack[0] & 1

    def reconnect(self, deadline=None):
        """connect(clean_session=False) with backoff; GaveUp after reconnect_tries failures.

        A refused login or TLS (not a network fault) is raised at once.
        """
        i = 0
        clock = self._clock
        while True:
            try:
                return self.connect(False)
            except MQTTRefused as e:
                if e.code != 3:
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
        if self.sock is not None:
            try:
                self._send(_DISCONNECT)
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
        self.sock = None
        self._raw = None
        self._watch = None
        self._poll_raw = None
        self._poller = None
        self._nsent = 0
        self._ping_at = None

    # --- publishing ---

    def publish(self, topic, msg, retain=False, qos=0, pid=None, dup=False):
        """Publish; for QoS 1 returns the packet id.

        Without a window it returns once the PUBACK is in (umqtt's meaning). With one it
        returns at once while the window has room, and before connect() it queues.
        """
        topic = codec.check_topic(topic)
        if qos == 0:
            if pid is not None or dup:
                raise ValueError("packet id and DUP are for QoS 1 only")
            return self._robust(self._send, codec.publish_packet(topic, msg, 0, retain))
        if qos != 1:
            raise ValueError("QoS %r: this client publishes with QoS 0 or 1" % qos)
        if self.window and self.sock is None and len(self._pids) >= self.window:
            raise MQTTException("in-flight window full (%d messages): connect() to send them"
                                % self.window)
        pid = self._take_pid(pid)
        pkt = codec.publish_packet(topic, msg, 1, retain, pid, dup)
        if self.window:
            if self.sock is None:
                self._track(pid, pkt)         # goes out with the next connect()
                return pid
            self._robust(self._wait_room, None)
            self._track(pid, pkt)
            self._robust(self._flush, None)
            return pid
        self._track(pid, pkt)
        self._robust(self._deliver, pid)
        return pid

    def publish_many(self, messages, timeout=None):
        """QoS 1 publish of each (topic, msg) or (topic, msg, pid, dup) of `messages`, an
        iterable read lazily, keeping the window full (one write per refill).

        Returns True once every message is acknowledged, False when `timeout` seconds passed
        first (what is unacknowledged stays in pending() and goes out with the next connect).
        Reconnects (with backoff, within the timeout) when the connection breaks.
        """
        clock = self._clock
        deadline = None if timeout is None else clock.ticks_add(clock.ticks_ms(), int(timeout * 1000))
        window = self.window or 1
        it = iter(messages)
        more = True
        last_t = last_b = tmpl = None
        tlen = off = 0
        fails = 0
        pids = self._pids
        pkts = self._pkts
        while True:
            while more and len(pids) < window:
                try:
                    m = next(it)
                except StopIteration:
                    more = False
                    break
                t = m[0]
                msg = m[1]
                if isinstance(msg, str):
                    msg = msg.encode()
                dup = False
                if len(m) > 2:
                    pid = self._take_pid(m[2])
                    dup = len(m) > 3 and m[3]
                else:
                    pid = self.pid % 65535 + 1
                    if pid in pkts or pid == self._wait_pid:
                        pid = self._take_pid(None)
                    else:
                        self.pid = pid
                if t is last_t and tmpl is not None and len(msg) == tlen and not dup:
                    # Same topic and size as the last one: copy it, change id and payload.
                    pkt = bytearray(tmpl)
                    pkt[0] = 0x32                   # PUBLISH, QoS 1 (tmpl may be marked DUP)
                    pkt[off] = pid >> 8
                    pkt[off + 1] = pid & 0xFF
                    pkt[off + 2:] = msg
                else:
                    if t is not last_t:
                        last_t, last_b = t, codec.check_topic(t)
                    pkt = codec.publish_packet(last_b, msg, 1, False, pid, dup)
                    tmpl, tlen, off = pkt, len(msg), len(pkt) - len(msg) - 2
                pids.append(pid)
                pkts[pid] = pkt
            if not pids:
                if not more:
                    return True
                continue
            try:
                self._need_sock()
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

    def _deliver(self, pid):
        # Stop-and-wait: write what this connection has not seen, wait for pid's PUBACK.
        self._need_sock()
        self._flush()
        clock = self._clock
        deadline = clock.ticks_add(clock.ticks_ms(), int(self.timeout * 1000))
        while pid in self._pkts:
            if not self._next_packet(deadline):
                raise OSError(_ETIMEDOUT, "no PUBACK for packet id %d within %s s: the broker "
                              "stopped answering" % (pid, self.timeout))

    def _wait_room(self, _):
        self._need_sock()
        clock = self._clock
        deadline = clock.ticks_add(clock.ticks_ms(), int(self.timeout * 1000))
        while len(self._pids) >= self.window:
            if not self._next_packet(deadline):
                raise OSError(_ETIMEDOUT, "no PUBACK within %s s with the window full: the broker "
                              "stopped answering" % self.timeout)

    def _take_acks(self, deadline):
        # Wait for a packet (bounded by timeout and deadline), then take every one that is
        # already here, so the next refill goes out as one write. Refilling as soon as the
        # socket has nothing more (rather than waiting for more acks) keeps a broker without
        # TCP_NODELAY from holding its PUBACKs for our delayed ACK. False: deadline passed.
        clock = self._clock
        limit = clock.ticks_add(clock.ticks_ms(), int(self.timeout * 1000))
        if deadline is not None and clock.ticks_diff(deadline, limit) < 0:
            limit = deadline
        if not self._next_packet(limit):
            if deadline is not None and limit is deadline:
                return False
            raise OSError(_ETIMEDOUT, "no PUBACK within %s s: the broker stopped answering"
                          % self.timeout)
        w = self._watch
        p = self._poll_raw
        while self._pids:
            if w is None or not w.buffered():
                for _ in p.ipoll(0):
                    break
                else:
                    break               # nothing more here yet
            self._read_packet()
        return True

    def _acked(self, pid):
        if self._pkts.pop(pid, None) is None:
            raise ProtocolError("PUBACK for packet id %d, which is not in flight" % pid)
        pids = self._pids
        i = 0 if pids[0] == pid else pids.index(pid)     # acks mostly come in order
        pids.pop(i)
        if i < self._nsent:
            self._nsent -= 1
        if i < self._ever:
            self._ever -= 1
        if self._ack_cb:
            self._ack_cb(pid)

    # --- subscriptions ---

    def subscribe(self, topic, qos=0):
        if self.cb is None:
            raise ValueError("set_callback() before subscribe(): messages need somewhere to go")
        if qos not in (0, 1):
            raise ValueError("QoS %r: this client subscribes with QoS 0 or 1" % qos)
        code = self._request(codec.subscribe_packet, topic, qos, "SUBACK")
        if code == 0x80:
            raise MQTTException(0x80, "subscription to %r refused (SUBACK 0x80): the broker's ACL "
                                "does not let this user read it" % topic)
        return code

    def unsubscribe(self, topic):
        self._request(codec.unsubscribe_packet, topic, None, "UNSUBACK")

    def _request(self, make, topic, qos, answer):
        self._need_sock()
        pid = self._take_pid(None)
        pkt = make(pid, topic, qos) if qos is not None else make(pid, topic)
        self._wait_pid = pid
        self._reply = None
        try:
            self._send(pkt)
            clock = self._clock
            deadline = clock.ticks_add(clock.ticks_ms(), int(self.timeout * 1000))
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
                self._need_sock()
                self.ping_if_due()
                if self._readable(0):
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
        self._need_sock()
        clock = self._clock
        deadline = clock.ticks_add(clock.ticks_ms(), int((timeout or self.timeout) * 1000))
        if self._next_packet(deadline, True):
            head = self._last_head
            return None if head == codec.PINGRESP else head
        return None

    def ping(self):
        self._need_sock()
        self._send(_PINGREQ)
        if self._ping_at is None:
            self._ping_at = self._clock.ticks_ms()

    def ping_if_due(self):
        """Keepalive for idle loops: PINGREQ when nothing went out for 3/4 of the keepalive;
        OSError (connection closed) when a PINGRESP is overdue. True when it pinged."""
        if not self.keepalive or self.sock is None:
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
        if not self.keepalive or self.sock is None:
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

    def _need_sock(self):
        if self.sock is None:
            raise OSError(_ENOTCONN, "not connected: call connect() first")

    def _send(self, data):
        self._need_sock()
        try:
            self.sock.write(data)
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

    def _readable(self, ms):
        # A packet (or its start) waits on the socket, or decrypted inside the TLS layer.
        # (Polling a TLS socket costs 1 ms on the unix port, none on the boards.)
        if self._poller is None:
            return False
        if self._watch is not None and self._watch.buffered():
            return True
        for _ in self._poller.ipoll(ms if ms > 0 else 0):
            return True
        return False

    def _next_packet(self, deadline, keepalive=False):
        # Read and handle one packet; False when none came before the deadline.
        clock = self._clock
        while True:
            left = clock.ticks_diff(deadline, clock.ticks_ms())
            if keepalive:
                self.ping_if_due()
                left = min(left, self._ping_wait_ms())
            if self._readable(left if left > 0 else 0):
                self._read_packet()
                return True
            if clock.ticks_diff(deadline, clock.ticks_ms()) <= 0:
                return False

    def _pump_until_connack(self):
        clock = self._clock
        deadline = clock.ticks_add(clock.ticks_ms(), int(self.timeout * 1000))
        while self._connack is None:
            if not self._next_packet(deadline):
                return False
        return True

    def _read_bytes(self, n):
        if not n:
            return b""
        data = self.sock.read(n)
        if data is None or len(data) != n:
            raise ProtocolError("connection closed in the middle of a packet (truncated)")
        return data

    def _read_packet(self):
        # One packet from the broker, handled; returns its first byte. Any error closes.
        try:
            b = self._buf
            sock = self.sock
            if sock.readinto(b, 2) != 2:
                raise OSError(104, "the broker closed the connection")
            head = b[0]
            x = b[1]
            if head == codec.PUBACK and x == 2 and self._connack is not None:
                # the hot path of a flush
                if sock.readinto(b, 2) != 2:
                    raise ProtocolError("connection closed in the middle of a packet (truncated)")
                self._last_head = head
                self._acked((b[0] << 8) | b[1])
                return head
            return self._read_rest(head, x)
        except BaseException:
            self._close()
            raise

    def _read_rest(self, head, x):
        b = self._buf
        n = x & 0x7F
        shift = 7
        k = 1
        while x & 0x80:
            if k == 4:
                raise ProtocolError("malformed remaining length: more than 4 bytes")
            if self.sock.readinto(b, 1) != 1:
                raise ProtocolError("connection closed in the middle of a packet (truncated)")
            x = b[0]
            n |= (x & 0x7F) << shift
            shift += 7
            k += 1
        if n > self.max_packet:
            raise ProtocolError("incoming packet of %d bytes is over max_packet (%d): refused"
                                % (n, self.max_packet))
        self._last_head = head
        if self._connack is None and head != codec.CONNACK:
            raise ProtocolError("packet type 0x%02x before CONNACK" % head)
        if head & 0xF0 == codec.PUBLISH:
            self._on_publish(head, n)
            return head
        want = _FIXED.get(head)
        if want is None:
            raise ProtocolError("unexpected packet type 0x%02x" % head)
        if n != want:
            raise ProtocolError("packet type 0x%02x with %d bytes, not %d" % (head, n, want))
        if n:
            if self.sock.readinto(b, n) != n:
                raise ProtocolError("connection closed in the middle of a packet (truncated)")
        if head == codec.PUBACK:
            self._acked((b[0] << 8) | b[1])
        elif head == codec.PINGRESP:
            self._ping_at = None
        elif head == codec.CONNACK:
            if self._connack is not None:
                raise ProtocolError("a second CONNACK")
            if b[0] & 0xFE:
                raise ProtocolError("CONNACK flags 0x%02x" % b[0])
            self._connack = (b[0], b[1])
        else:  # SUBACK, UNSUBACK
            pid = (b[0] << 8) | b[1]
            if pid != self._wait_pid or self._reply is not None:
                raise ProtocolError("%s for packet id %d, which was not asked for"
                                    % ("SUBACK" if head == codec.SUBACK else "UNSUBACK", pid))
            if head == codec.SUBACK:
                if b[2] not in (0, 1, 2, 0x80):
                    raise ProtocolError("SUBACK return code 0x%02x" % b[2])
                self._reply = b[2]
            else:
                self._reply = 0
        return head

    def _on_publish(self, head, n):
        qos = (head >> 1) & 3
        if qos > 1:
            raise ProtocolError("PUBLISH with QoS %d: this client subscribes with QoS 0 or 1" % qos)
        need = 4 if qos else 2
        if n < need:
            raise ProtocolError("PUBLISH of %d bytes is too short" % n)
        b = self._buf
        if self.sock.readinto(b, 2) != 2:
            raise ProtocolError("connection closed in the middle of a packet (truncated)")
        tl = (b[0] << 8) | b[1]
        if need + tl > n:
            raise ProtocolError("PUBLISH topic length %d runs past the end of its packet (%d bytes)"
                                % (tl, n))
        topic = self._read_bytes(tl)
        pid = 0
        if qos:
            if self.sock.readinto(b, 2) != 2:
                raise ProtocolError("connection closed in the middle of a packet (truncated)")
            pid = (b[0] << 8) | b[1]
            if not pid:
                raise ProtocolError("PUBLISH with QoS 1 and packet id 0")
        msg = self._read_bytes(n - need - tl)
        if self.cb:
            self.cb(topic, msg)
        if qos:
            self._send(codec.puback_packet(pid))


# Remaining length of the packets the broker may send besides PUBLISH, by first byte.
_FIXED = {codec.CONNACK: 2, codec.PUBACK: 2, codec.SUBACK: 3, codec.UNSUBACK: 2,
          codec.PINGRESP: 0}


def _errno(e):
    a = getattr(e, "args", None)
    return a[0] if a and isinstance(a[0], int) else 103
