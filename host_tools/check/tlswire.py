"""A TLS client connection whose handshake bytes can be read as they pass.

Python's ssl runs the handshake over memory buffers (ssl.MemoryBIO), so every byte from the
server goes through here first. TLS 1.2 sends the server's handshake in clear until
ChangeCipherSpec: ServerHello (the chosen suite), Certificate (the whole chain the broker
sends, which Python 3.11's ssl does not expose; and how many records it came in: axTLS
refuses a handshake message split across records), CertificateRequest (the broker wants a client
certificate) and any alert, which tells why the other side gave up.
"""

import socket
import ssl
from dataclasses import dataclass, field

HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC = 22, 21, 20
SERVER_HELLO, CERTIFICATE, CERTIFICATE_REQUEST = 2, 11, 13
# The only suites axTLS (ESP8266) offers: RSA key exchange, TLS 1.2 at most.
AXTLS_SUITES = {0x002F: "AES128-SHA", 0x0035: "AES256-SHA", 0x003C: "AES128-SHA256",
                0x003D: "AES256-SHA256"}
AXTLS_CIPHERS = ":".join(AXTLS_SUITES.values())
ALERTS = {a.value: a.name.replace("ALERT_DESCRIPTION_", "").lower() for a in ssl.AlertDescription}


@dataclass
class Observed:
    """What the server said in clear during the handshake."""
    version: int | None = None           # ServerHello's version field (0x0303 = TLS 1.2)
    suite: int | None = None
    chain: list = field(default_factory=list)     # DER certificates, leaf first
    cert_request: bool = False
    alert: int | None = None
    bytes_in: int = 0
    cert_records: int = 0                # the TLS records the Certificate message came in
    cert_bytes: int = 0                  # its length
    _buf: bytes = b""
    _hs: bytes = b""
    _span: int = 0                       # the records the message first in _hs came in
    _encrypted: bool = False

    def feed(self, data: bytes):
        self.bytes_in += len(data)
        if self._encrypted:
            return
        self._buf += data
        while len(self._buf) >= 5 and not self._encrypted:
            ctype, length = self._buf[0], int.from_bytes(self._buf[3:5], "big")
            if len(self._buf) < 5 + length:
                return
            body, self._buf = self._buf[5:5 + length], self._buf[5 + length:]
            if ctype == HANDSHAKE:
                self._span = self._span + 1 if self._hs else 1
                self._hs += body
                self._parse_handshake()
            elif ctype == ALERT and len(body) >= 2:
                self.alert = body[1]
            elif ctype == CHANGE_CIPHER_SPEC:
                self._encrypted = True
            elif ctype not in (HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC, 23):
                self._encrypted = True      # not TLS at all: stop parsing

    def _parse_handshake(self):
        while len(self._hs) >= 4:
            mtype, length = self._hs[0], int.from_bytes(self._hs[1:4], "big")
            if len(self._hs) < 4 + length:
                return
            body, self._hs = self._hs[4:4 + length], self._hs[4 + length:]
            span, self._span = self._span, 1 if self._hs else 0
            if mtype == SERVER_HELLO and len(body) >= 35:
                self.version = int.from_bytes(body[0:2], "big")
                sid_len = body[34]
                at = 35 + sid_len
                if len(body) >= at + 2:
                    self.suite = int.from_bytes(body[at:at + 2], "big")
            elif mtype == CERTIFICATE and len(body) >= 3:
                self.cert_records, self.cert_bytes = span, length
                total = int.from_bytes(body[0:3], "big")
                at, end = 3, min(3 + total, len(body))
                while at + 3 <= end:
                    n = int.from_bytes(body[at:at + 3], "big")
                    self.chain.append(bytes(body[at + 3:at + 3 + n]))
                    at += 3 + n
            elif mtype == CERTIFICATE_REQUEST:
                self.cert_request = True

    @property
    def alert_name(self):
        return ALERTS.get(self.alert, str(self.alert)) if self.alert is not None else None

    @property
    def suite_name(self):
        if self.suite is None:
            return None
        return AXTLS_SUITES.get(self.suite, f"0x{self.suite:04X}")


class TlsConn:
    """send/recv over TLS on a connected socket, with the handshake observed."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, server_hostname=None):
        self.sock = sock
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self.seen = Observed()

    def _flush(self):
        data = self._out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self._in.write_eof()
            return
        self.seen.feed(data)
        self._in.write(data)

    def handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except ssl.SSLError:
                try:
                    self._flush()       # our alert, so the server logs why
                except OSError:
                    pass
                raise

    def send(self, data: bytes):
        self.tls.write(data)
        self._flush()

    def recv(self, n: int) -> bytes:
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except ssl.SSLZeroReturnError:
                return b""

    @property
    def peer_der(self):
        return self.tls.getpeercert(binary_form=True)

    def close(self):
        try:
            self.tls.unwrap()
            self._flush()
        except (ssl.SSLError, OSError, ValueError):
            pass
        self.sock.close()


class PlainConn:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, data: bytes):
        self.sock.sendall(data)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def close(self):
        self.sock.close()
