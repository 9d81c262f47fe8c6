# A broken or hostile broker cannot crash or hang the client: crafted packets, then well over
# a thousand randomly mutated ones. Each fault must end as a clear protocol error (an OSError)
# with the socket closed; never a MemoryError, an IndexError or a hang.
import random
import time

from fakebroker import FakeBroker, publish_bytes
from mptest import eq
from node.mqtt.client import MQTTClient, ProtocolError

HEAPSIZE = 400000
TIMEOUT = 60

# (what the broker sends, whether it then hangs up, what the error must say)
CRAFTED = (
    (b"\x40\x02\x00", True, "truncated"),                        # PUBACK cut short
    (b"", True, "closed the connection"),                        # hangs up between packets
    (b"\x30\xff\xff\xff\xff\x7f", False, "more than 4 bytes"),   # remaining length too long
    (b"\x90\xff\xff\xff\x7f", False, "over max_packet"),          # 256 MB announced
    (b"\x30\xff\xff\xff\x7f", False, "ETIMEDOUT"),                # a PUBLISH of 256 MB: read
                                                                  # past, until it stops coming
    (b"\x50\x02\x00\x01", False, "unexpected packet type 0x50"),  # PUBREC: QoS 2 is not used
    (b"\x00\x00", False, "unexpected packet type 0x00"),
    (b"\xf0\x00", False, "unexpected packet type 0xf0"),
    (b"\x10\x00", False, "unexpected packet type 0x10"),          # a CONNECT from the broker
    (b"\x41\x02\x00\x01", False, "unexpected packet type 0x41"),  # PUBACK with flags set
    (b"\x30\x06\x00\x10abcd", False, "runs past the end"),        # topic length past the end
    (b"\x32\x06\x00\x03abc", False, "runs past the end"),         # no room for the packet id
    (b"\x32\x01\x00", False, "too short"),
    (b"\x40\x02\x12\x34", False, "not in flight"),                # PUBACK for an unknown id
    (b"\x40\x03\x00\x01\x00", False, "with 3 bytes, not 2"),
    (b"\x20\x02\x00\x00", False, "a second CONNACK"),
    (b"\x90\x03\x00\x05\x00", False, "not asked for"),            # SUBACK nobody asked for
    (b"\xb0\x02\x00\x05", False, "not asked for"),
    (b"\x34\x06\x00\x01t\x00\x01x", False, "QoS 2"),
    (b"\x36\x06\x00\x01t\x00\x01x", False, "QoS 3"),
    (b"\x32\x05\x00\x01t\x00\x00", False, "packet id 0"),
    (b"\x30\x0a\x00\x01t", False, "ETIMEDOUT"),                   # stops sending mid-packet
)


def new_client(fb, timeout=0.2):
    c = MQTTClient("node-1", "broker.test", timeout=timeout, window=4, max_packet=4096,
                   socket_factory=fb.factory)
    c.errors = []
    c.set_callback(lambda t, m: None)
    c.connect()
    return c


def check(c):
    # check_msg, its error (an OSError, or anything that should not be) kept
    try:
        c.check_msg()
    except Exception as e:
        c.errors.append(e)


def test_crafted_hostile_packets_are_refused_cleanly():
    fb = FakeBroker()
    for data, hangup, words in CRAFTED:
        c = new_client(fb)
        first = fb.conn
        if data:
            fb.send(data)
        if hangup:
            fb.hangup()
        t = time.ticks_ms()
        check(c)
        took = time.ticks_diff(time.ticks_ms(), t)
        assert c.errors, "no error for %r" % data
        text = str(c.errors[0])
        assert words in text, "%r: %s" % (data, text)
        assert isinstance(c.errors[0], OSError), (data, c.errors[0])
        assert first.closed, "socket closed after %r" % data
        assert took < 2000, "took %d ms for %r" % (took, data)
        c.disconnect()


def valid_packets():
    # What a broker may legitimately send once connected (ids 1..3 are in flight).
    return [
        b"\x40\x02\x00\x01",
        b"\x40\x02\x00\x02\x40\x02\x00\x03",
        b"\xd0\x00",
        publish_bytes(b"nodes/node-1/cmd/a", b"hello"),
        publish_bytes(b"nodes/node-1/cmd/b", b"x" * 130, 1, 9),
        publish_bytes(b"t", b"", 1, 65535, dup=True),
        publish_bytes(b"t/" * 40, b"\x00\xff" * 20, 0, retain=True),
        b"\xd0\x00" + publish_bytes(b"a", b"b", 1, 4),
    ]


def mutate(rng, pkt):
    b = bytearray(pkt)
    kind = rng.getrandbits(3)
    if kind == 0 and b:                       # flip bits
        for _ in range(1 + rng.getrandbits(2)):
            i = rng.getrandbits(16) % len(b)
            b[i] ^= 1 << rng.getrandbits(3)
    elif kind == 1 and b:                     # a random byte
        b[rng.getrandbits(16) % len(b)] = rng.getrandbits(8)
    elif kind == 2:                           # truncate
        b = b[:rng.getrandbits(16) % (len(b) + 1)]
    elif kind == 3:                           # insert random bytes
        i = rng.getrandbits(16) % (len(b) + 1)
        b = b[:i] + bytes(rng.getrandbits(8) for _ in range(1 + rng.getrandbits(3))) + b[i:]
    elif kind == 4 and len(b) > 1:            # a huge or odd length byte
        b[1] = rng.choice((0x00, 0x7f, 0x80, 0xff))
    elif kind == 5:                           # the first byte: any packet type and flags
        if b:
            b[0] = rng.getrandbits(8)
    elif kind == 6:                           # garbage after it
        b += bytes(rng.getrandbits(8) for _ in range(1 + rng.getrandbits(4)))
    else:                                     # two faults
        b = bytearray(mutate(rng, mutate(rng, b)))
    return bytes(b)


def test_a_thousand_mutated_packets_never_crash_or_hang():
    rng = random.Random(20240601) if hasattr(random, "Random") else None
    if rng is None:
        random.seed(20240601)
        rng = random
    fb = FakeBroker()
    fb.keep = False
    corpus = valid_packets()
    runs = refused = other = accepted = 0
    slowest = 0
    for n in range(1200):
        fb.hold.update((1, 2, 3))
        c = new_client(fb, timeout=0.05)
        for i in range(3):
            c.publish("nodes/node-1/f", "in flight", qos=1)
        fb.hold.clear()
        data = mutate(rng, rng.choice(corpus))
        first = fb.conn
        hang_up = rng.getrandbits(5) != 0          # now and then the broker just goes quiet
        if data:
            fb.send(data)
        if hang_up:
            fb.hangup()
        t = time.ticks_ms()
        for _ in range(4):
            check(c)
            if c.errors:
                break
        took = time.ticks_diff(time.ticks_ms(), t)
        slowest = max(slowest, took)
        assert took < 1500, "run %d took %d ms (%r)" % (n, took, data)
        if c.errors:
            e = c.errors[0]
            assert isinstance(e, OSError), (n, data, e)
            assert first.closed, "run %d: socket left open after %r" % (n, data)
            if isinstance(e, ProtocolError):
                refused += 1                    # malformed: named and refused
            elif "closed the connection" in str(e):
                accepted += 1                   # every packet taken, then the hang-up seen
            else:
                other += 1                      # cut short: EOF or timeout mid-packet
        else:
            accepted += 1
        runs += 1
        c.disconnect()
        for conn in fb.conns:
            try:
                conn.server.close()
            except OSError:
                pass
        fb.conns = []
    print("fuzz: %d runs: %d refused as malformed, %d cut short, %d taken; slowest %d ms"
          % (runs, refused, other, accepted, slowest))
    eq(runs, 1200, "runs")
    assert refused > 200 and accepted > 100, (refused, other, accepted)
