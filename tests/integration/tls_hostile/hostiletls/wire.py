"""TLS framing (RFC 5246 sections 6.2 and 7.4): records, handshake messages, the client's
ClientHello, and the handshake messages a server sends, built from their fields. Only framing:
no cryptography here (see keys.py and protect.py)."""

import struct
from dataclasses import dataclass, field

# Record content types (6.2.1)
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
# Handshake message types (7.4)
HELLO_REQUEST, CLIENT_HELLO, SERVER_HELLO = 0, 1, 2
CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST, SERVER_HELLO_DONE = 11, 12, 13, 14
CERTIFICATE_VERIFY, CLIENT_KEY_EXCHANGE, FINISHED = 15, 16, 20
# Versions
TLS10, TLS11, TLS12 = 0x0301, 0x0302, 0x0303
# Extensions and the signalling suite of secure renegotiation (RFC 5746)
RENEGOTIATION_INFO = 0xFF01
EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF
MAX_RECORD = 1 << 14                # plaintext bytes in one record (6.2.1)


def u8(n):
    return bytes((n,))


def u16(n):
    return struct.pack(">H", n)


def u24(n):
    return struct.pack(">I", n)[1:]


def vec8(b):
    return u8(len(b)) + b


def vec16(b):
    return u16(len(b)) + b


def vec24(b):
    return u24(len(b)) + b


def record(ctype, body, version=TLS12):
    """One record; the body is taken as it is (callers cut bodies to the size they want)."""
    return bytes((ctype,)) + u16(version) + u16(len(body) & 0xFFFF) + body


def handshake(mtype, body, length=None):
    """A handshake message; `length` overrides the length its header declares."""
    return u8(mtype) + u24(len(body) if length is None else length) + body


def alert(level, description):
    return bytes((level, description))


# --- reading ---

class _Cutter:
    """Cuts a byte stream into units whose header (HEAD bytes) says how long their body is:
    feed(data), then take() until it returns None."""
    HEAD = 0

    def __init__(self):
        self._buf = b""

    def feed(self, data):
        self._buf += data

    @property
    def pending(self):
        return len(self._buf)

    def _cut(self):
        if len(self._buf) < self.HEAD:
            return None
        n = self.HEAD + self._body_length(self._buf)
        if len(self._buf) < n:
            return None
        whole, self._buf = self._buf[:n], self._buf[n:]
        return whole


class RecordReader(_Cutter):
    """Records: (type, version, body)."""
    HEAD = 5

    @staticmethod
    def _body_length(head):
        return int.from_bytes(head[3:5], "big")

    def take(self):
        whole = self._cut()
        return whole and (whole[0], int.from_bytes(whole[1:3], "big"), whole[5:])


class MessageReader(_Cutter):
    """The handshake layer (the bodies of handshake records, concatenated) cut into messages:
    (type, body, the whole message as sent, for the transcript)."""
    HEAD = 4

    @staticmethod
    def _body_length(head):
        return int.from_bytes(head[1:4], "big")

    def take(self):
        whole = self._cut()
        return whole and (whole[0], whole[4:], whole)


def messages_complete(stream):
    """True when a handshake-layer byte stream ends exactly at the end of a message: a
    reader of it has nothing left to wait for."""
    i = 0
    while i + 4 <= len(stream):
        i += 4 + int.from_bytes(stream[i + 1:i + 4], "big")
    return i == len(stream)


@dataclass
class ClientHello:
    version: int
    random: bytes
    session_id: bytes
    suites: list
    compressions: bytes
    extensions: dict = field(default_factory=dict)     # type -> data

    def offers_secure_renegotiation(self):
        return (RENEGOTIATION_INFO in self.extensions
                or EMPTY_RENEGOTIATION_INFO_SCSV in self.suites)


def parse_client_hello(body):
    """A ClientHello's body (7.4.1.2) -> ClientHello; ValueError when it does not parse."""
    try:
        version, rnd = struct.unpack(">H", body[:2])[0], body[2:34]
        i = 34
        sid = body[i + 1:i + 1 + body[i]]
        i += 1 + body[i]
        n = int.from_bytes(body[i:i + 2], "big")
        suites = [int.from_bytes(body[j:j + 2], "big") for j in range(i + 2, i + 2 + n, 2)]
        i += 2 + n
        comp = body[i + 1:i + 1 + body[i]]
        i += 1 + body[i]
        exts = {}
        if i < len(body):
            end = i + 2 + int.from_bytes(body[i:i + 2], "big")
            i += 2
            while i + 4 <= end:
                etype, elen = struct.unpack(">HH", body[i:i + 4])
                exts[etype] = body[i + 4:i + 4 + elen]
                i += 4 + elen
    except (IndexError, struct.error) as exc:
        raise ValueError(f"not a ClientHello: {exc}") from None
    if len(rnd) != 32:
        raise ValueError("not a ClientHello: short random")
    return ClientHello(version, rnd, sid, suites, comp, exts)


# --- building the server's messages ---

def server_hello(version, rnd, suite, extensions=b"", session_id=b""):
    body = u16(version) + rnd + vec8(session_id) + u16(suite) + u8(0)
    if extensions:
        body += vec16(extensions)
    return handshake(SERVER_HELLO, body)


def extension(etype, data):
    return u16(etype) + vec16(data)


def certificate_list(certs):
    """The body of a well-formed Certificate message (7.4.2)."""
    return vec24(b"".join(vec24(c) for c in certs))


def certificate_request(version):
    """Asks for an RSA client certificate (7.4.4), any CA."""
    body = vec8(b"\x01")                                 # rsa_sign
    if version >= TLS12:
        body += vec16(b"\x04\x01\x02\x01")               # rsa_pkcs1_sha256, rsa_pkcs1_sha1
    return handshake(CERTIFICATE_REQUEST, body + vec16(b""))


def server_hello_done():
    return handshake(SERVER_HELLO_DONE, b"")


def hello_request():
    return handshake(HELLO_REQUEST, b"")
