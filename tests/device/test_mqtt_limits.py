# What the client accepts from a broker: remaining lengths at every boundary, the incoming
# packet cap (a PUBLISH over it is read past, never allocated; any other packet over it is
# refused from its length alone), in a small heap.
from fakebroker import FakeBroker, publish_bytes, rl
from mptest import eq
from node.mqtt.client import MQTTClient

HEAPSIZE = 300000     # far below the 2 MB and 256 MB packets announced below
TIMEOUT = 30


def connected(max_packet):
    fb = FakeBroker()
    c = MQTTClient("node-1", "broker.test", timeout=0.5, socket_factory=fb.factory,
                   max_packet=max_packet)
    errors = []
    got = []
    c.set_callback(lambda t, m: got.append((t, len(m))))
    c.connect()
    return fb, c, errors, got


def check(c, errors, wait=None):
    try:
        return c.wait_msg(wait) if wait else c.check_msg()
    except OSError as e:
        errors.append(e)


def publish_of_length(n):
    # A PUBLISH whose remaining length is exactly n: topic "t" (2 + 1 bytes) and a payload.
    return publish_bytes(b"t", b"p" * (n - 3))


def test_remaining_lengths_at_the_boundaries_reach_the_callback():
    fb, c, errors, got = connected(max_packet=16384)
    for n in (3, 127, 128, 16383, 16384):
        pkt = publish_of_length(n)
        eq(pkt[1:1 + len(rl(n))], rl(n), "the broker's length bytes for %d" % n)
        fb.send(pkt)
        eq(c.wait_msg(2), 0x30, "PUBLISH of remaining length %d" % n)
        eq(got[-1], (b"t", n - 3), "payload of %d" % n)
    fb.send(b"\xd0\x00")                       # remaining length 0: PINGRESP
    eq(c.wait_msg(1), None, "PINGRESP")
    eq(errors, [], "no error")
    eq(len(fb.conns), 1, "same connection throughout")


def test_lengths_over_the_cap_are_refused_before_reading_the_body():
    # Only the fixed header of a SUBACK is sent: the client must refuse from the length alone,
    # naming the exact length it decoded. Allocating that much would not fit in this heap.
    for n in (16385, 2097151, 2097152, 268435455):
        fb, c, errors, got = connected(max_packet=16384)
        fb.send(b"\x90" + rl(n))
        check(c, errors)
        assert errors, "refused %d" % n
        text = str(errors[0])
        assert "incoming packet of %d bytes is over max_packet (16384)" % n in text, text
        assert isinstance(errors[0], OSError), "a protocol error, not a MemoryError"
        assert fb.conns[0].closed, "connection closed"
        eq(got, [], "nothing delivered")
        fb.close()


def test_cap_is_configurable_and_exact():
    fb, c, errors, got = connected(max_packet=200)
    big = []
    c.on_oversized = lambda topic, size: big.append((topic, size))
    fb.send(publish_of_length(200))
    c.wait_msg(1)
    eq(got, [(b"t", 197)], "a packet of exactly max_packet bytes is taken")
    fb.send(publish_of_length(201))
    eq(c.wait_msg(1), 0x30, "one over it is read")
    eq(len(got), 1, "but not delivered")
    eq((big, c.oversized), ([(b"t", 198)], 1), "it is counted and reported with its topic")
    eq(errors, [], "and the connection goes on")


def test_an_oversized_publish_is_read_past_in_a_small_heap_and_acknowledged():
    # 1 MB of payload in a heap of 300 KB: skipped a few bytes at a time, never allocated.
    fb, c, errors, got = connected(max_packet=4096)
    n = 1024 * 1024
    fb.send(publish_bytes(b"nodes/node-1/cmd/x", b"", 1, 77)[:1] + rl(n + 2 + 18 + 2)
            + b"\x00\x12nodes/node-1/cmd/x\x00\x4d")
    chunk = b"z" * 4096
    for _ in range(n // 4096):
        fb.send(chunk)
    check(c, errors, 1)
    eq(errors, [], "no error")
    eq((c.oversized, got), (1, []), "skipped, not delivered")
    eq(fb.of_type(0x40)[-1][2], b"\x00\x4d", "acknowledged, so the broker drops it")


def test_a_fifth_length_byte_is_malformed():
    fb, c, errors, got = connected(max_packet=16384)
    fb.send(b"\x30\xff\xff\xff\xff\x01")
    check(c, errors)
    assert "more than 4 bytes" in str(errors[0]), errors
    assert fb.conns[0].closed
