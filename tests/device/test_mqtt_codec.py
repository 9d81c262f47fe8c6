# MQTT 3.1.1 packet encoding (node.mqttcodec), byte for byte, under MicroPython.
from mptest import eq, raises
from node import mqttcodec as codec
from node.mqttcodec import ProtocolError

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
        eq(bytes(codec.encode_len(n)), wire, "encoding of %d" % n)
        eq(codec.len_size(n), len(wire), "size of %d" % n)
        eq(codec.decode_len(wire), (n, len(wire)), "decoding of %r" % wire)
        # decoding from the middle of a buffer, with bytes after it
        eq(codec.decode_len(b"\x30" + wire + b"\x99", 1), (n, 1 + len(wire)), "offset decode")


def test_fifth_length_byte_is_malformed():
    err = raises(ProtocolError, codec.decode_len, b"\xff\xff\xff\xff\x7f")
    assert "more than 4 bytes" in str(err), str(err)
    raises(ProtocolError, codec.decode_len, b"\x80\x80")       # truncated
    raises(ValueError, codec.encode_len, 268435456)           # over the limit


def test_connect_bytes_clean_session_keepalive_and_login():
    pkt = codec.connect_packet("cid", True, 60, "user", "pw")
    body = b"\x00\x04MQTT\x04\xc2\x00\x3c" + b"\x00\x03cid" + b"\x00\x04user" + b"\x00\x02pw"
    eq(bytes(pkt), b"\x10" + bytes((len(body),)) + body, "CONNECT")
    # persistent session, no login, keepalive 0
    eq(bytes(codec.connect_packet(b"n1", False, 0)), b"\x10\x0e\x00\x04MQTT\x04\x00\x00\x00\x00\x02n1",
       "bare CONNECT")


def test_connect_with_last_will():
    pkt = codec.connect_packet("c", False, 300, "u", None, b"nodes/c/status", b"gone", 1, True)
    body = (b"\x00\x04MQTT\x04" + bytes((0x80 | 0x20 | 0x08 | 0x04, 1, 44)) + b"\x00\x01c"
            + b"\x00\x0enodes/c/status" + b"\x00\x04gone" + b"\x00\x01u")
    eq(bytes(pkt), b"\x10" + bytes((len(body),)) + body, "CONNECT with will")


def test_connect_refuses_bad_values():
    raises(ValueError, codec.connect_packet, "c", True, 70000)
    raises(ValueError, codec.connect_packet, "c", True, 0, None, "pw")   # password without user
    raises(ValueError, codec.connect_packet, "c", True, 0, None, None, "a/#", "x")  # wildcard will


def test_long_connect_uses_two_length_bytes():
    pkt = codec.connect_packet("x" * 200, True, 0)
    rl = 10 + 2 + 200
    eq(bytes(pkt[:3]), b"\x10" + bytes(codec.encode_len(rl)), "header")
    eq(len(pkt), 3 + rl, "length")


def test_publish_bytes():
    eq(bytes(codec.publish_packet(b"a/b", b"hi")), b"\x30\x07\x00\x03a/bhi", "QoS 0")
    eq(bytes(codec.publish_packet(b"a/b", "hi", 1, True, 0x1234)),
       b"\x33\x09\x00\x03a/b\x12\x34hi", "QoS 1 retain")
    eq(bytes(codec.publish_packet(b"t", b"", 1, False, 65535, True)), b"\x3a\x05\x00\x01t\xff\xff",
       "QoS 1 DUP, empty payload")
    big = codec.publish_packet(b"t", b"x" * 125, 0)    # remaining length 128
    eq(bytes(big[:3]), b"\x30\x80\x01", "128 takes two bytes")
    eq(len(big), 3 + 128, "size")


def test_subscribe_unsubscribe_puback_bytes():
    eq(bytes(codec.subscribe_packet(7, "a/#", 1)), b"\x82\x08\x00\x07\x00\x03a/#\x01", "SUBSCRIBE")
    eq(bytes(codec.unsubscribe_packet(8, b"a/#")), b"\xa2\x07\x00\x08\x00\x03a/#", "UNSUBSCRIBE")
    eq(codec.puback_packet(0x0102), b"\x40\x02\x01\x02", "PUBACK")
    long = codec.subscribe_packet(1, b"t" * 123, 0)     # 2 + 2 + 123 + 1 = 128
    eq(bytes(long[:3]), b"\x82\x80\x01", "SUBSCRIBE of 128 bytes")


def test_publish_topic_must_be_plain():
    for bad in ("", "a/+/b", "a/#", "#", "a\x00b"):
        err = raises(ValueError, codec.check_topic, bad)
        assert "topic" in str(err), str(err)
    eq(codec.check_topic("nodes/n1/readings"), b"nodes/n1/readings", "plain topic")
    raises(ValueError, codec.check_topic, "x" * 70000)


def test_connack_codes_say_what_is_wrong():
    eq(codec.MQTTRefused(4).args[0], 4, "umqtt programs read the code from args[0]")
    assert "bad username or password" in str(codec.MQTTRefused(4))
    text5 = str(codec.MQTTRefused(5))
    assert "not authorized" in text5 and "username/password" in text5 and "ACL" in text5, text5
    assert "protocol" in str(codec.MQTTRefused(1))
    assert "client id" in str(codec.MQTTRefused(2))
    assert "unavailable" in str(codec.MQTTRefused(3))
    assert "unknown CONNACK return code 9" in str(codec.MQTTRefused(9))
    assert isinstance(codec.MQTTRefused(5), codec.MQTTException)
    assert isinstance(ProtocolError("x"), OSError)
