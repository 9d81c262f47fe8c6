# Packet ids over 70,000 QoS 1 publishes: never 0, wrapping from 65535 to 1, never reused
# while in flight (some acknowledgements are held back for a long time, some come out of
# order). The fake broker checks every PUBLISH as it arrives.
from fakebroker import FakeBroker
from mptest import eq
from node.mqtt.client import MQTTClient

TIMEOUT = 120
COUNT = 70000


def test_packet_ids_over_70000_publishes():
    fb = FakeBroker()
    fb.keep = False
    unacked = set()                 # ids the broker has seen and not acknowledged
    seen = {"n": 0, "wraps": 0, "last": 0, "max": 0}

    def on_publish(p):
        assert p.pid != 0, "packet id 0"
        assert p.pid not in unacked, "id %d reused while in flight (publish %d)" % (p.pid, seen["n"])
        if p.pid < seen["last"]:
            seen["wraps"] += 1
        seen["last"] = p.pid
        seen["max"] = max(seen["max"], p.pid)
        seen["n"] += 1
        if p.pid in fb.hold:
            unacked.add(p.pid)

    fb.on_publish = on_publish
    c = MQTTClient("node-1", "broker.test", timeout=2, window=16, socket_factory=fb.factory)
    c.connect()
    fb.hold.update((5, 100, 65535))     # 5 and 65535 stay in flight across the wrap
    first = []
    counts = {5: 0, 100: 0, 0: 0}
    after_65535 = None
    prev = None
    for i in range(COUNT):
        pid = c.publish("nodes/node-1/p", b"x", qos=1)
        if len(first) < 3:
            first.append(pid)
        if pid in counts:
            counts[pid] += 1
        if prev == 65535:
            after_65535 = pid
        prev = pid
        if i == 30000:
            unacked.discard(100)
            fb.release(100)             # out of order, long after its neighbours
        if i == 69000:
            for pid in (5, 65535):
                unacked.discard(pid)
                fb.release(pid)
    assert c.wait_acks(5)
    eq(seen["n"], COUNT, "every publish reached the broker once")
    eq(seen["max"], 65535, "ids go up to 65535")
    eq(seen["wraps"], 1, "and wrap once to 1")
    eq(counts[0], 0, "never 0")
    eq(first, [1, 2, 3], "from 1")
    eq(after_65535, 1, "65535 wraps to 1")
    eq(counts[5], 1, "5 stayed in flight, so it was skipped after the wrap")
    eq(counts[100], 2, "100 was acknowledged at publish 30000, so it came round again")
    eq(c.pending(), [], "all acknowledged")
