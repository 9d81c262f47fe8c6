# What the client accepts from a broker: remaining lengths at every boundary, the incoming
# packet cap (refused before anything is allocated for the packet), in a small heap.
from fakebroker import FakeBroker, publish_bytes, rl
from mptest import eq
from node.mqtt import MQTTClient

HEAPSIZE = 300000     # far below the 2 MB and 256 MB packets announced below
TIMEOUT = 30


def connected(max_packet):
    fb = FakeBroker()
    c = MQTTClient("node-1", "broker.test", timeout=0.5, socket_factory=fb.factory,
                   max_packet=max_packet)
    errors = []
    got = []
    c.log = lambda r, e: errors.append(e)
    c.set_callback(lambda t, m: got.append((t, len(m))))
    c.connect()
    return fb, c, errors, got


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
    # Only the fixed header is sent: the client must refuse from the length alone, naming the
    # exact length it decoded. Allocating that much would not fit in this heap anyway.
    for n in (16385, 2097151, 2097152, 268435455):
        fb, c, errors, got = connected(max_packet=16384)
        fb.send(b"\x30" + rl(n))
        c.check_msg()
        assert errors, "refused %d" % n
        text = str(errors[0])
        assert "incoming packet of %d bytes is over max_packet (16384)" % n in text, text
        assert isinstance(errors[0], OSError), "a protocol error, not a MemoryError"
        assert fb.conns[0].closed, "connection closed"
        eq(got, [], "nothing delivered")
        fb.close()


def test_cap_is_configurable_and_exact():
    fb, c, errors, got = connected(max_packet=200)
    fb.send(publish_of_length(200))
    c.wait_msg(1)
    eq(got, [(b"t", 197)], "a packet of exactly max_packet bytes is taken")
    fb.send(publish_of_length(201))
    c.wait_msg(1)
    assert "201 bytes is over max_packet (200)" in str(errors[0]), errors
    eq(len(got), 1, "the oversized one is not delivered")


def test_a_fifth_length_byte_is_malformed():
    fb, c, errors, got = connected(max_packet=16384)
    fb.send(b"\x30\xff\xff\xff\xff\x01")
    c.check_msg()
    assert "more than 4 bytes" in str(errors[0]), errors
    assert fb.conns[0].closed
