# What only a client that receives needs, for node.mqtt.client: its packets (PUBACK, SUBSCRIBE
# and UNSUBSCRIBE built; an incoming PUBLISH read, handed over by node.mqtt.packets.read()),
# subscriptions and what comes in (node.mqtt.client's _read() hands a PUBLISH, SUBACK or
# UNSUBACK to incoming()), and the waits of an idle connection with their keepalive. The
# functions named in METHODS become methods of node.mqtt.client.MQTTClient the first time a
# program calls one: a program that only publishes keeps none of this in RAM.
from micropython import const

from node.mqtt import MQTTException, ProtocolError, link, packets, why
from node.mqtt.packets import add, fill

_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBACK = const(0x90)
_PINGRESP = const(0xD0)
_ETIMEDOUT = const(110)
_E_SUB_QOS = const(6)
_E_NO_CB = const(9)
_E_SUBACK = const(16)
_E_SUBACK_T = const(21)
_E_PINGRESP = const(22)
_E_TRUNCATED = const(26)
_E_PUB_QOS2 = const(28)
_E_SHORT = const(29)
_E_PAST = const(30)
_E_PID0 = const(31)
_E_UNASKED = const(40)

METHODS = ("subscribe", "unsubscribe", "check_msg", "wait_msg", "ping", "ping_if_due",
           "ack_held")


# --- its packets: built (PUBACK, SUBSCRIBE, UNSUBSCRIBE) and read (PUBLISH) ---

def with_id(first, pid, topic=None, qos=None):
    """PUBACK (first 0x40), SUBSCRIBE (0x82, with topic and qos), UNSUBSCRIBE (0xA2, topic)."""
    if topic is not None:
        topic = packets.check_topic(topic, "topic filter", False)
    pkt = packets.start(first, 2 + (0 if topic is None else 2 + len(topic))
                        + (0 if qos is None else 1))
    add(pkt, pid, False)
    if topic is not None:
        add(pkt, topic)
    if qos is not None:
        pkt.append(qos)
    return pkt


def read_publish(sock, b, head, n, max_packet):
    """The rest of a PUBLISH of remaining length n whose first byte node.mqtt.packets.read()
    read (b: its 4-byte header buffer): its return value. A topic running past the packet,
    QoS 2, or QoS 1 with packet id 0 is a ProtocolError. Over max_packet bytes it is read
    past, a few bytes at a time, never allocated: msg is then None."""
    qos = (head >> 1) & 3
    if qos > 1:
        raise ProtocolError(_E_PUB_QOS2, qos)
    need = 4 if qos else 2
    if n < need:
        raise ProtocolError(_E_SHORT, n)
    fill(sock, b, 2)
    tl = (b[0] << 8) | b[1]
    if need + tl > n:
        raise ProtocolError(_E_PAST, tl, n)
    big = n > max_packet
    if big and tl > 256:
        _skip(sock, tl)
        topic = b""
    else:
        topic = _take(sock, tl)
    pid = 0
    if qos:
        fill(sock, b, 2)
        pid = (b[0] << 8) | b[1]
        if not pid:
            raise ProtocolError(_E_PID0)
    n -= need + tl
    if big:
        _skip(sock, n)
        return head, pid, n, topic, None
    return head, pid, n, topic, _take(sock, n)


def _take(sock, n):
    data = sock.read(n) if n else b""
    if data is None or len(data) != n:
        raise ProtocolError(_E_TRUNCATED)
    return data


def _skip(sock, n):
    # read n bytes and forget them, a few at a time: nothing of their size is allocated
    b = bytearray(64)
    while n > 0:
        k = min(n, 64)
        fill(sock, b, k)
        n -= k


# --- the session: subscriptions, what comes in, acknowledgements ---

def subscribe(c, topic, qos=0):
    """SUBSCRIBE topic with qos (0 or 1); returns the granted QoS once SUBACK is in."""
    if c.cb is None:
        raise ValueError(why(_E_NO_CB))
    if qos not in (0, 1):
        raise ValueError(why(_E_SUB_QOS, qos))
    return _request(c, topic, qos)


def unsubscribe(c, topic):
    _request(c, topic, None)


def _request(c, topic, qos):
    # SUBSCRIBE (qos 0 or 1) or UNSUBSCRIBE (qos None), and its answer (bounded by the
    # client's timeout)
    c._need()
    pid = c._take_pid(None)
    c._wait_pid = pid
    c._reply = None
    try:
        c._send(with_id(0xA2 if qos is None else 0x82, pid, topic, qos))
        deadline = c._after(c.timeout)
        while c._reply is None:
            c._next(deadline, _E_SUBACK_T)
    finally:
        c._wait_pid = 0
    if c._reply == 0x80:
        raise MQTTException(0x80, why(_E_SUBACK, topic))
    return c._reply


def incoming(c, head, a, b, topic, msg):
    """A PUBLISH, SUBACK or UNSUBACK the client read (node.mqtt.packets.read's fields)."""
    if head & 0xF0 == _PUBLISH:
        if msg is None:
            c.oversized += 1
            taken = c.on_oversized(topic, b) is not False if c.on_oversized else True
        else:
            taken = c.cb(topic, msg) is not False if c.cb else True
        if head & 6:
            if not c.defer_acks:
                c._send(with_id(_PUBACK, a))
            elif taken:
                if not c._held:
                    c._held = []
                c._held.append(a)
        return
    if a != c._wait_pid or c._reply is not None:
        raise ProtocolError(_E_UNASKED, "SUBACK" if head == _SUBACK else "UNSUBACK", a)
    c._reply = b if head == _SUBACK else 0


def ack_held(c):
    """With defer_acks: PUBACK (one write) for the QoS 1 messages received so far; returns
    how many."""
    held, c._held = c._held, ()
    if held:
        c._send(b"".join(with_id(_PUBACK, p) for p in held))
    return len(held)


# --- waiting on an idle connection, and its keepalive ---

def check_msg(c):
    """Handle one packet if one is waiting, else return None at once (umqtt's meaning);
    sends PINGREQ when due."""
    c._need()
    c.ping_if_due()
    return c._read() if link.ready(c._poll, 0) else None


def wait_msg(c, timeout=None):
    """Wait for one packet and handle it; returns its type byte, or None for PINGRESP and
    when nothing came within `timeout` seconds (default: the client's timeout). PINGREQ goes
    out when due while it waits."""
    c._need()
    clock = c._clock
    deadline = c._after(timeout or c.timeout)
    while True:
        left = clock.ticks_diff(deadline, clock.ticks_ms())
        if c.keepalive:
            # wake up for the next PINGREQ, or when its PINGRESP is overdue
            c.ping_if_due()
            if c._ping_at is None:
                due = c.keepalive * 750 - clock.ticks_diff(clock.ticks_ms(), c._last_tx)
            else:
                due = c.timeout * 1000 + 1 - clock.ticks_diff(clock.ticks_ms(), c._ping_at)
            left = min(left, max(0, due))
        if link.ready(c._poll, left):
            head = c._read()
            return None if head == _PINGRESP else head
        if clock.ticks_diff(deadline, clock.ticks_ms()) <= 0:
            return None


def ping(c):
    c._send(b"\xc0\x00")
    if c._ping_at is None:
        c._ping_at = c._clock.ticks_ms()


def ping_if_due(c):
    """Keepalive for idle loops: PINGREQ when nothing went out for 3/4 of the keepalive;
    OSError (connection closed) when a PINGRESP is overdue. True when it pinged."""
    if not c.keepalive or c.sock is None:
        return False
    clock = c._clock
    now = clock.ticks_ms()
    if c._ping_at is not None:
        if clock.ticks_diff(now, c._ping_at) > c.timeout * 1000:
            c._close()
            raise OSError(_ETIMEDOUT, why(_E_PINGRESP, c.timeout))
        return False
    if clock.ticks_diff(now, c._last_tx) >= c.keepalive * 750:
        c.ping()
        return True
    return False
