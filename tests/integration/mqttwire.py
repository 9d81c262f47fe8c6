"""MQTT 3.1.1 packets byte by byte, over any conn with send(bytes)/recv(n), for the fault suite:
an intruder that logs in as the node at an exact point, and the sizes of the packets a cut is
placed in. Everything else talks MQTT through paho-mqtt."""

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14
MAX_PACKET = 64 * 1024
CONNACK_CODES = {
    0: "accepted",
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class ProtocolError(Exception):
    pass


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + _length(len(body)) + body


def connect(client_id: str, user=None, password=None, keepalive=30, clean=True) -> bytes:
    flags = (0x02 if clean else 0) | (0x80 if user is not None else 0) | (0x40 if password is not None else 0)
    body = _str("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + _str(client_id)
    if user is not None:
        body += _str(user)
    if password is not None:
        body += _str(password)
    return packet(CONNECT, 0, body)


def subscribe(packet_id: int, topic: str, qos=0) -> bytes:
    return packet(SUBSCRIBE, 2, packet_id.to_bytes(2, "big") + _str(topic) + bytes([qos]))


def publish(topic: str, payload: bytes, packet_id: int | None = None) -> bytes:
    """QoS 0, or QoS 1 when a packet id is given."""
    if packet_id is None:
        return packet(PUBLISH, 0, _str(topic) + payload)
    return packet(PUBLISH, 2, _str(topic) + packet_id.to_bytes(2, "big") + payload)


def disconnect() -> bytes:
    return packet(DISCONNECT, 0, b"")


def _read_exact(conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_packet(conn):
    """(type, flags, body) of the next packet; EOFError when the server closes."""
    first = _read_exact(conn, 1)[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = _read_exact(conn, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("remaining length longer than 4 bytes")
    if length > MAX_PACKET:
        raise ProtocolError(f"packet of {length} bytes is larger than expected")
    return first >> 4, first & 0x0F, _read_exact(conn, length)


def parse_publish(flags: int, body: bytes):
    n = int.from_bytes(body[0:2], "big")
    topic = body[2:2 + n].decode(errors="replace")
    at = 2 + n + (2 if (flags >> 1) & 3 else 0)
    return topic, body[at:]
