# MQTT 3.1.1 packets: building what the client sends, parsing what the broker sends. No
# sockets here (node.mqtt.link) and no session (node.mqtt.client). What only a client that
# receives needs, PUBACK, SUBSCRIBE and UNSUBSCRIBE built and the rest of an incoming PUBLISH
# read, is node.mqtt.receive's, imported when first used.
#
# Rules kept (MQTT 3.1.1, chapters 2 and 3): the remaining length takes 1 to 4 bytes (a fifth
# is malformed); a topic to publish to is not empty and has no wildcard and no NUL; strings are
# UTF-8 with a 16-bit length; a packet from the broker of an unknown type, with wrong flags or
# length, a QoS 1 PUBLISH with packet id 0, or a topic running past its packet is a protocol
# violation. An incoming PUBLISH over max_packet bytes is read past (its payload skipped a few
# bytes at a time, never allocated): msg is then None, and `size` says how long it was.
#
# Small on purpose, as the client is: a board that loads it as .mpy keeps its code in RAM, so
# error texts live in node.mqtt.errors, imported only when one is raised; the error types are
# node.mqtt's.
from micropython import const

from node.mqtt import ProtocolError, why

_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBACK = const(0x90)
_UNSUBACK = const(0xB0)
_PINGRESP = const(0xD0)
_ECONNRESET = const(104)
_E_CLOSED = const(23)
_E_TRUNCATED = const(26)
_E_KEEPALIVE = const(10)
_E_PW_USER = const(11)
_E_TOO_LONG = const(12)
_E_TOPIC = const(13)
_E_PACKET = const(14)
_E_LEN5 = const(27)
_E_BIG = const(32)
_E_TYPE = const(33)
_E_LENGTH = const(34)
_E_FLAGS = const(35)
_E_SUBCODE = const(36)


# --- building ---

def check_topic(topic, what="topic", plain=True):
    """topic as bytes: UTF-8, at most 65535 bytes; to publish to (plain): no wildcard, no NUL."""
    if isinstance(topic, str):
        topic = topic.encode()
    if len(topic) > 65535:
        raise ValueError(why(_E_TOO_LONG, what, len(topic)))
    if plain and (not topic or b"+" in topic or b"#" in topic or b"\x00" in topic):
        raise ValueError(why(_E_TOPIC, topic))
    return topic


def start(first, n):
    """A packet's fixed header: first byte, remaining length n in 1 to 4 bytes."""
    if n > 268435455:
        raise ValueError(why(_E_PACKET, n))
    pkt = bytearray((first,))
    while n > 0x7F:
        pkt.append((n & 0x7F) | 0x80)
        n >>= 7
    pkt.append(n)
    return pkt


def add(pkt, s, prefix=True):
    """Append to pkt a string with its 16-bit length, or (prefix False) the 16-bit number s."""
    n = len(s) if prefix else s
    pkt.append(n >> 8)
    pkt.append(n & 0xFF)
    if prefix:
        pkt.extend(s)


def connect(client_id, clean, keepalive, user=None, password=None, will=None):
    """CONNECT; will is (topic bytes, message bytes, qos, retain) or None."""
    if not 0 <= keepalive <= 65535:
        raise ValueError(why(_E_KEEPALIVE, keepalive))
    if password is not None and not user:
        raise ValueError(why(_E_PW_USER))
    flags = 2 if clean else 0
    fields = [check_topic(client_id, "client id", False)]
    if will:
        flags |= 4 | (will[2] << 3) | (0x20 if will[3] else 0)
        fields += will[:2]
    if user:
        flags |= 0x80
        fields.append(check_topic(user, "user name", False))
        if password is not None:
            flags |= 0x40
            fields.append(check_topic(password, "password", False))
    pkt = start(0x10, 10 + sum(2 + len(f) for f in fields))
    pkt.extend(b"\x00\x04MQTT\x04")
    pkt.append(flags)
    add(pkt, keepalive, False)
    for f in fields:
        add(pkt, f)
    return pkt


def publish(topic, msg, qos=0, retain=False, pid=0, dup=False, head=False):
    """One PUBLISH as a bytearray (DUP can be set in place before a resend); topic is bytes
    check_topic passed, msg bytes or str. head: the packet up to the payload, which the
    caller writes after it (msg may then be the payload's length)."""
    if isinstance(msg, str):
        msg = memoryview(msg)       # its UTF-8 bytes, not a copy: a large payload once in RAM
    t = len(topic)
    m = msg if head and isinstance(msg, int) else len(msg)
    n = 2 + t + m + (2 if qos else 0)
    fixed = start(_PUBLISH | (8 if dup else 0) | (qos << 1) | (1 if retain else 0), n)
    i = len(fixed)
    # Allocated at its final size and filled in place: a bytearray that grows is copied to
    # ever larger blocks, which a small heap may not have.
    pkt = bytearray(i + n - (m if head else 0))
    pkt[:i] = fixed
    pkt[i] = t >> 8
    pkt[i + 1] = t & 0xFF
    pkt[i + 2:i + 2 + t] = topic
    i += 2 + t
    if qos:
        pkt[i] = pid >> 8
        pkt[i + 1] = pid & 0xFF
        i += 2
    if not head:
        pkt[i:] = msg
    return pkt


# --- parsing ---

def fill(sock, buf, n, first=False):
    # exactly n bytes into buf; first: the connection may end cleanly before them
    k = sock.readinto(buf, n)
    if k != n:
        if first and not k:
            raise OSError(_ECONNRESET, why(_E_CLOSED))
        raise ProtocolError(_E_TRUNCATED)


def read(sock, buf, max_packet):
    """Read one packet from the broker (buf: a bytearray of 4 to read headers into); returns
    (first byte, a, b, topic, msg): PUBACK, UNSUBACK a = packet id; SUBACK a = packet id,
    b = its return code; CONNACK a = flags, b = return code; PUBLISH a = packet id (0 for
    QoS 0), b = payload size, topic, msg (None when it was over max_packet: read past).
    ProtocolError for anything MQTT 3.1.1 does not allow."""
    b = buf
    fill(sock, b, 2, True)
    head = b[0]
    x = b[1]
    if head == _PUBACK and x == 2:
        fill(sock, b, 2)                       # the hot path of a flush
        return head, (b[0] << 8) | b[1], 0, None, None
    n = x & 0x7F
    shift = 7
    while x & 0x80:
        if shift == 28:
            raise ProtocolError(_E_LEN5)
        fill(sock, b, 1)
        x = b[0]
        n |= (x & 0x7F) << shift
        shift += 7
    if head & 0xF0 == _PUBLISH:                 # for a subscriber
        from node.mqtt.receive import read_publish
        return read_publish(sock, b, head, n, max_packet)
    if n > max_packet:
        raise ProtocolError(_E_BIG, n, max_packet)
    if head not in (_CONNACK, _PUBACK, _SUBACK, _UNSUBACK, _PINGRESP):
        raise ProtocolError(_E_TYPE, head)
    want = 3 if head == _SUBACK else 0 if head == _PINGRESP else 2
    if n != want:
        raise ProtocolError(_E_LENGTH, head, n, want)
    if not n:
        return head, 0, 0, None, None
    fill(sock, b, n)
    if head == _CONNACK:
        if b[0] & 0xFE:
            raise ProtocolError(_E_FLAGS, b[0])
        return head, b[0], b[1], None, None
    code = 0
    if head == _SUBACK:
        code = b[2]
        if code not in (0, 1, 2, 0x80):
            raise ProtocolError(_E_SUBCODE, code)
    return head, (b[0] << 8) | b[1], code, None, None
