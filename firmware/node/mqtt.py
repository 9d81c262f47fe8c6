# MQTT 3.1.1 client with umqtt's API. First slice: CONNECT, PUBLISH QoS 0/1, DISCONNECT.
import socket
import struct
from micropython import const

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_DISCONNECT = const(0xE0)

CONNACK_ERRORS = {
    1: "broker refused the protocol version (it must speak MQTT 3.1.1)",
    2: "client id rejected by the broker",
    3: "broker unavailable: try again later",
    4: "bad username or password: check mqtt.user/mqtt.password and the broker's password file",
    5: "not authorized: check the broker's ACL for this user",
}


class MQTTException(Exception):
    pass


def _encode_len(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


class MQTTClient:
    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0,
                 ssl=None, timeout=10):
        self.client_id = client_id
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.timeout = timeout
        self.sock = None
        self.pid = 0

    def _read(self, n):
        data = self.sock.read(n)
        if not data or len(data) != n:
            raise OSError(-1, "connection closed by broker")
        return data

    def _packet(self):
        head = self._read(1)[0]
        n = shift = 0
        while True:
            b = self._read(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTException("malformed remaining length")
        return head, (self._read(n) if n else b"")

    def connect(self, clean_session=True):
        addr = socket.getaddrinfo(self.server, self.port, 0, socket.SOCK_STREAM)[0][-1]
        sock = socket.socket()
        sock.settimeout(self.timeout)
        try:
            sock.connect(addr)
            sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
            if self.ssl:
                sock = self.ssl.wrap_socket(sock, server_hostname=self.server)
        except Exception:
            sock.close()
            raise
        self.sock = sock
        flags = (0x02 if clean_session else 0) | (0xC0 if self.user else 0)
        if self.user and self.pswd is None:
            flags &= ~0x40
        body = _str(b"MQTT") + bytes((4, flags)) + struct.pack("!H", self.keepalive)
        body += _str(self.client_id)
        if self.user:
            body += _str(self.user)
            if self.pswd is not None:
                body += _str(self.pswd)
        self.sock.write(bytes((_CONNECT,)) + _encode_len(len(body)) + body)
        head, payload = self._packet()
        if head != _CONNACK or len(payload) != 2:
            raise MQTTException("expected CONNACK, got packet type 0x%02x" % head)
        if payload[1]:
            raise MQTTException("connection refused: " + CONNACK_ERRORS.get(payload[1], "code %d" % payload[1]))
        return payload[0] & 1

    def publish(self, topic, msg, retain=False, qos=0):
        body = _str(topic)
        pid = 0
        if qos:
            self.pid = self.pid % 65535 + 1
            pid = self.pid
            body += struct.pack("!H", pid)
        if isinstance(msg, str):
            msg = msg.encode()
        head = _PUBLISH | (qos << 1) | (1 if retain else 0)
        self.sock.write(bytes((head,)) + _encode_len(len(body) + len(msg)) + body + msg)
        while qos:
            ptype, payload = self._packet()
            if ptype == _PUBACK and struct.unpack("!H", payload)[0] == pid:
                return pid
        return pid

    def disconnect(self):
        if self.sock:
            try:
                self.sock.write(bytes((_DISCONNECT, 0)))
            finally:
                self.sock.close()
                self.sock = None
