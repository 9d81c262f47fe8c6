# QoS 1 publishes that keep the in-flight window full, one write per refill, and the wait for
# their PUBACKs. These functions become methods of node.mqtt.client.MQTTClient the first time
# a program calls one: a program that publishes one message at a time keeps none of this in
# RAM.
from micropython import const

from node.mqtt import link, packets

_E_PUBACK = const(19)

METHODS = ("publish_many", "wait_acks", "pending")


def publish_many(c, messages, timeout=None):
    """QoS 1 publish of each (topic, msg) or (topic, msg, pid, dup) of `messages`, an
    iterable read lazily, keeping the window full (one write per refill). True once every
    message is acknowledged; False when `timeout` seconds passed first (what is
    unacknowledged stays in pending() for the next connect). OSError when the connection
    breaks."""
    c._need()
    tcp = link.poller(c._raw)       # to drain the acks already here: the TCP socket alone
    clock = c._clock
    deadline = None if timeout is None else c._after(timeout)
    window = c.window or 1
    it = iter(messages)
    more = True
    pids = c._pids
    # A packet of the same topic and payload size as the last one is a copy of it with a
    # new id and payload: cheaper than building it anew.
    last = last_topic = None
    size = off = 0
    while True:
        while more and len(pids) < window:
            try:
                m = next(it)
            except StopIteration:
                more = False
                break
            topic, msg = m[0], m[1]
            pid = c._take_pid(m[2] if len(m) > 2 else None)
            dup = len(m) > 3 and m[3]
            if isinstance(msg, str):
                msg = msg.encode()
            if topic is last_topic and len(msg) == size and not dup:
                pkt = bytearray(last)
                pkt[0] = 0x32               # PUBLISH, QoS 1 (the last may be DUP since)
                pkt[off] = pid >> 8
                pkt[off + 1] = pid & 0xFF
                pkt[off + 2:] = msg
            else:
                pkt = packets.publish(packets.check_topic(topic), msg, 1, False, pid, dup)
                last, last_topic, size, off = pkt, topic, len(msg), len(pkt) - len(msg) - 2
            pids.append(pid)
            c._pkts[pid] = pkt
        if not pids:
            return True
        c._flush()
        # Wait for a packet, then take every one already here, so that the next refill
        # goes out as one write. Refilling as soon as nothing more is here keeps a broker
        # without TCP_NODELAY from holding PUBACKs for our delayed ACK.
        limit = c._after(c.timeout)
        if deadline is not None and clock.ticks_diff(deadline, limit) < 0:
            limit = deadline
        if c._next(limit, None if limit is deadline else _E_PUBACK) is None:
            return False
        while pids and link.ready(tcp, 0):
            c._read()


def wait_acks(c, timeout=None):
    """Wait until every QoS 1 message is acknowledged: True, or False after `timeout` s."""
    return c.publish_many((), timeout)


def pending(c):
    """Packet ids of the QoS 1 messages not yet acknowledged, in send order."""
    return list(c._pids)
