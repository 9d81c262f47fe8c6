# MQTT 3.1.1 packets (node.mqtt.packets, and node.mqtt.receive for a subscriber's), byte for byte,
# under MicroPython: building, and reading them back from a stream.
import io

from mptest import eq, raises
from node.mqtt import packets, receive
from node.mqtt import MQTTException, MQTTRefused, ProtocolError


class Stream(io.IOBase):
    """The bytes given, then `filler` more bytes of b"p" (a large packet without the RAM)."""

    def __init__(self, data, filler=0):
        self.data = io.BytesIO(data)
        self.filler = filler

    def readinto(self, buf, n=None):
        n = len(buf) if n is None else n
        k = self.data.readinto(memoryview(buf)[:n])
        more = min(n - k, self.filler)
        if more:
            buf[k:k + more] = b"p" * more
            self.filler -= more
        return k + more

    def read(self, n):
        b = bytearray(n)
        return bytes(b[:self.readinto(b, n)])


class Got:
    def __init__(self, head, a, b, topic, msg):
        self.pid = self.flags = a
        self.code = self.size = b
        self.topic = topic
        self.msg = msg


def parse(data, max_packet=1 << 28, filler=0):
    """Read one packet from bytes: (first byte, what it carried)."""
    got = Got(*packets.read(Stream(data, filler), bytearray(4), max_packet))
    return got_head(data), got


def got_head(data):
    return data[0]

BOUNDARIES = (
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16383, b"\xff\x7f"),
    (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"),
    (2097152, b"\x80\x80\x80\x01"),
    (268435455, b"\xff\xff\xff\x7f"),
)


def test_remaining_length_boundaries_round_trip():
    for n, wire in BOUNDARIES:
        eq(bytes(packets.start(0x30, n)), b"\x30" + wire, "encoding of %d" % n)
    # read back: a PUBLISH with topic "t" of remaining length n (its payload skipped when it
    # is over max_packet, so no large buffer is needed)
    for n, wire in BOUNDARIES[1:-1]:
        head, got = parse(b"\x30" + wire + b"\x00\x01t", 100, n - 3)
        eq((head, got.topic, got.size), (0x30, b"t", n - 3), "decoding of %r" % wire)


def test_fifth_length_byte_is_malformed():
    err = raises(ProtocolError, parse, b"\x30\xff\xff\xff\xff\x7f")
    assert "more than 4 bytes" in str(err), str(err)
    err = raises(ProtocolError, parse, b"\x30\x80\x80")       # truncated
    assert "truncated" in str(err), str(err)
    raises(ValueError, packets.start, 0x30, 268435456)       # over the limit


def test_connect_bytes_clean_session_keepalive_and_login():
    pkt = packets.connect("cid", True, 60, "user", "pw")
    body = b"\x00\x04MQTT\x04\xc2\x00\x3c" + b"\x00\x03cid" + b"\x00\x04user" + b"\x00\x02pw"
    eq(bytes(pkt), b"\x10" + bytes((len(body),)) + body, "CONNECT")
    # persistent session, no login, keepalive 0
    eq(bytes(packets.connect(b"n1", False, 0)), b"\x10\x0e\x00\x04MQTT\x04\x00\x00\x00\x00\x02n1",
       "bare CONNECT")


def test_connect_with_last_will():
    pkt = packets.connect("c", False, 300, "u", None, (b"nodes/c/status", b"gone", 1, True))
    body = (b"\x00\x04MQTT\x04" + bytes((0x80 | 0x20 | 0x08 | 0x04, 1, 44)) + b"\x00\x01c"
            + b"\x00\x0enodes/c/status" + b"\x00\x04gone" + b"\x00\x01u")
    eq(bytes(pkt), b"\x10" + bytes((len(body),)) + body, "CONNECT with will")


def test_connect_refuses_bad_values():
    raises(ValueError, packets.connect, "c", True, 70000)
    raises(ValueError, packets.connect, "c", True, 0, None, "pw")   # password without user
    raises(ValueError, packets.connect, "c", True, 0, "u", "x" * 70000)  # a password too long


def test_long_connect_uses_two_length_bytes():
    pkt = packets.connect("x" * 200, True, 0)
    rl = 10 + 2 + 200
    eq(bytes(pkt[:3]), bytes(packets.start(0x10, rl)), "header")
    eq(len(pkt), 3 + rl, "length")


def test_publish_bytes():
    eq(bytes(packets.publish(b"a/b", b"hi")), b"\x30\x07\x00\x03a/bhi", "QoS 0")
    eq(bytes(packets.publish(b"a/b", "hi", 1, True, 0x1234)),
       b"\x33\x09\x00\x03a/b\x12\x34hi", "QoS 1 retain")
    eq(bytes(packets.publish(b"t", b"", 1, False, 65535, True)), b"\x3a\x05\x00\x01t\xff\xff",
       "QoS 1 DUP, empty payload")
    big = packets.publish(b"t", b"x" * 125, 0)    # remaining length 128
    eq(bytes(big[:3]), b"\x30\x80\x01", "128 takes two bytes")
    eq(len(big), 3 + 128, "size")


def test_subscribe_unsubscribe_puback_bytes():
    eq(bytes(receive.with_id(0x82, 7, "a/#", 1)), b"\x82\x08\x00\x07\x00\x03a/#\x01", "SUBSCRIBE")
    eq(bytes(receive.with_id(0xA2, 8, b"a/#")), b"\xa2\x07\x00\x08\x00\x03a/#", "UNSUBSCRIBE")
    eq(bytes(receive.with_id(0x40, 0x0102)), b"\x40\x02\x01\x02", "PUBACK")
    long = receive.with_id(0x82, 1, b"t" * 123, 0)     # 2 + 2 + 123 + 1 = 128
    eq(bytes(long[:3]), b"\x82\x80\x01", "SUBSCRIBE of 128 bytes")


def test_publish_topic_must_be_plain():
    for bad in ("", "a/+/b", "a/#", "#", "a\x00b"):
        err = raises(ValueError, packets.check_topic, bad)
        assert "topic" in str(err), str(err)
    eq(packets.check_topic("nodes/n1/readings"), b"nodes/n1/readings", "plain topic")
    raises(ValueError, packets.check_topic, "x" * 70000)


def test_connack_codes_say_what_is_wrong():
    eq(MQTTRefused(4).args[0], 4, "umqtt programs read the code from args[0]")
    assert "bad username or password" in str(MQTTRefused(4))
    text5 = str(MQTTRefused(5))
    assert "not authorized" in text5 and "username/password" in text5 and "ACL" in text5, text5
    assert "protocol" in str(MQTTRefused(1))
    assert "client id" in str(MQTTRefused(2))
    assert "unavailable" in str(MQTTRefused(3))
    assert "unknown CONNACK return code 9" in str(MQTTRefused(9))
    assert isinstance(MQTTRefused(5), MQTTException)
    err = raises(ProtocolError, parse, b"\x50\x02\x00\x01")
    assert isinstance(err, OSError) and err.args[0] == 71, "a protocol error is an OSError (EPROTO)"


def test_what_the_broker_sends_is_read_and_checked():
    eq(parse(b"\x20\x02\x01\x05")[1].code, 5, "CONNACK return code")
    eq(parse(b"\x20\x02\x01\x00")[1].flags, 1, "CONNACK session present")
    eq(parse(b"\x40\x02\x12\x34")[1].pid, 0x1234, "PUBACK")
    head, got = parse(b"\x90\x03\x00\x07\x80")
    eq((head, got.pid, got.code), (0x90, 7, 0x80), "SUBACK failure")
    head, got = parse(b"\x32\x08\x00\x01t\x00\x09hey")
    eq((head, got.topic, got.pid, got.msg), (0x32, b"t", 9, b"hey"), "QoS 1 PUBLISH")
    for data, words in ((b"\x50\x02\x00\x01", "unexpected packet type 0x50"),
                        (b"\x40\x03\x00\x01\x00", "with 3 bytes, not 2"),
                        (b"\x20\x02\x02\x00", "CONNACK flags"),
                        (b"\x90\x03\x00\x01\x03", "SUBACK return code"),
                        (b"\x32\x05\x00\x01t\x00\x00", "packet id 0"),
                        (b"\x34\x05\x00\x01t\x00\x01", "QoS 2"),
                        (b"\x30\x06\x00\x10abcd", "runs past the end"),
                        (b"\xd0\x01\x00", "with 1 bytes, not 0")):
        err = raises(ProtocolError, parse, data)
        assert words in str(err), (data, str(err))
    err = raises(OSError, parse, b"")
    assert "closed the connection" in str(err), str(err)
