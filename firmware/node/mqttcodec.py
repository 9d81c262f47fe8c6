# MQTT 3.1.1 packets: building what the client sends, checking what it receives, and the
# errors both can raise. Pure functions, no I/O; node.mqtt does the talking.
#
# Rules kept here (MQTT 3.1.1, chapter 2 and 3):
# - the remaining length takes 1 to 4 bytes (0 .. 268435455); a fifth byte is malformed;
# - a topic to publish to is not empty and has no wildcard ('+', '#') and no NUL;
# - strings are UTF-8 with a 16-bit length prefix.
from micropython import const

CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x82)   # the fixed header flags of SUBSCRIBE/UNSUBSCRIBE must be 0b0010
SUBACK = const(0x90)
UNSUBSCRIBE = const(0xA2)
UNSUBACK = const(0xB0)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)

DUP = const(0x08)
EPROTO = const(71)
MAX_LENGTH = const(268435455)   # the largest remaining length 4 bytes can say

# CONNACK return codes (MQTT 3.1.1, 3.2.2.3), each with what to do about it.
CONNACK_TEXT = {
    1: "the broker refused the protocol version: it must accept MQTT 3.1.1 (protocol level 4)",
    2: "the broker rejected the client id: use a non-empty id of letters and digits, "
       "unique per device (mqtt.client_id)",
    3: "the broker is unavailable (server unavailable): try again later",
    4: "bad username or password: check mqtt.user and mqtt.password against the broker's "
       "password file",
    5: "not authorized: wrong username/password, or the broker's ACL/config refuses this client "
       "(Mosquitto answers a wrong password with this code): check mqtt.user/mqtt.password, "
       "the broker's password file and its ACL",
}


class MQTTException(Exception):
    """umqtt's error type: the broker said no, or broke the protocol."""


class MQTTRefused(MQTTException):
    """The broker refused the connection: args = (CONNACK return code, what to do)."""

    def __init__(self, code):
        super().__init__(code, CONNACK_TEXT.get(code, "unknown CONNACK return code %d" % code))
        self.code = code


class ProtocolError(OSError):
    """The broker broke MQTT 3.1.1 (a connection fault, so an OSError: errno EPROTO);
    the client has closed the connection."""

    def __init__(self, text):
        super().__init__(EPROTO, "MQTT protocol error from the broker: " + text)


class GaveUp(OSError):
    """reconnect() ran out of tries: args = (errno of the last failure, what happened)."""


def len_size(n):
    """How many bytes the remaining length n takes (1..4)."""
    if n < 128:
        return 1
    if n < 16384:
        return 2
    if n < 2097152:
        return 3
    if n <= MAX_LENGTH:
        return 4
    raise ValueError("MQTT packet of %d bytes is over the protocol's limit of %d" % (n, MAX_LENGTH))


def put_len(buf, i, n):
    """Write remaining length n into buf at i; returns the index after it."""
    len_size(n)
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            buf[i] = b | 0x80
            i += 1
        else:
            buf[i] = b
            return i + 1


def encode_len(n):
    buf = bytearray(len_size(n))
    put_len(buf, 0, n)
    return buf


def decode_len(buf, i=0):
    """Decode a remaining length from buf at i: (value, index after it)."""
    n = shift = 0
    for k in range(4):
        if i + k >= len(buf):
            raise ProtocolError("truncated remaining length")
        b = buf[i + k]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i + k + 1
        shift += 7
    raise ProtocolError("malformed remaining length: more than 4 bytes")


def utf8(s, what="string"):
    if isinstance(s, str):
        s = s.encode()
    if len(s) > 65535:
        raise ValueError("%s of %d bytes is too long for MQTT (65535 at most)" % (what, len(s)))
    return s


def check_topic(topic):
    """A topic to publish to, as bytes; ValueError for an empty one or one with wildcards."""
    topic = utf8(topic, "topic")
    if not topic:
        raise ValueError("empty topic: give the topic to publish to")
    if b"+" in topic or b"#" in topic or b"\x00" in topic:
        raise ValueError("topic %r has a wildcard or NUL: publish to a plain topic name" % topic)
    return topic


def _fields(parts):
    # Concatenate length-prefixed strings.
    out = bytearray()
    for p in parts:
        out.append(len(p) >> 8)
        out.append(len(p) & 0xFF)
        out.extend(p)
    return out


def connect_packet(client_id, clean_session, keepalive, user=None, password=None,
                   will_topic=None, will_msg=None, will_qos=0, will_retain=False):
    if not 0 <= keepalive <= 65535:
        raise ValueError("keepalive %r must be 0..65535 seconds" % keepalive)
    if password is not None and not user:
        raise ValueError("MQTT 3.1.1 sends a password only with a user name: set the user too")
    flags = 0x02 if clean_session else 0
    parts = [utf8(client_id, "client id")]
    if will_topic:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        parts.append(check_topic(will_topic))
        parts.append(utf8(will_msg or b"", "will message"))
    if user:
        flags |= 0x80
        parts.append(utf8(user, "user name"))
        if password is not None:
            flags |= 0x40
            parts.append(utf8(password, "password"))
    body = _fields(parts)
    rl = 10 + len(body)
    pkt = bytearray(1 + len_size(rl) + 10)
    pkt[0] = CONNECT
    i = put_len(pkt, 1, rl)
    pkt[i:i + 10] = b"\x00\x04MQTT\x04" + bytes((flags, keepalive >> 8, keepalive & 0xFF))
    pkt.extend(body)
    return pkt


def publish_packet(topic, msg, qos=0, retain=False, pid=0, dup=False):
    """One PUBLISH as a bytearray (so DUP can be set in place before a resend).

    topic is bytes already checked by check_topic; msg is bytes or str.
    """
    if isinstance(msg, str):
        msg = msg.encode()
    tl = len(topic)
    rl = 2 + tl + len(msg) + (2 if qos else 0)
    pkt = bytearray(1 + len_size(rl) + rl)
    pkt[0] = PUBLISH | (DUP if dup else 0) | (qos << 1) | (1 if retain else 0)
    i = put_len(pkt, 1, rl)
    pkt[i] = tl >> 8
    pkt[i + 1] = tl & 0xFF
    i += 2
    pkt[i:i + tl] = topic
    i += tl
    if qos:
        pkt[i] = pid >> 8
        pkt[i + 1] = pid & 0xFF
        i += 2
    pkt[i:] = msg
    return pkt


def _with_id(head, pid, body):
    rl = 2 + len(body)
    pkt = bytearray(1 + len_size(rl) + 2)
    pkt[0] = head
    i = put_len(pkt, 1, rl)
    pkt[i] = pid >> 8
    pkt[i + 1] = pid & 0xFF
    pkt.extend(body)
    return pkt


def subscribe_packet(pid, topic, qos):
    body = _fields([utf8(topic, "topic filter")])
    body.append(qos)
    return _with_id(SUBSCRIBE, pid, body)


def unsubscribe_packet(pid, topic):
    return _with_id(UNSUBSCRIBE, pid, _fields([utf8(topic, "topic filter")]))


def puback_packet(pid):
    return bytes((PUBACK, 2, pid >> 8, pid & 0xFF))
