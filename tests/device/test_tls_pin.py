# node.tlspin: the server's side of a TLS handshake, crafted byte by byte, read the way a
# TLS library reads it (record header, then body; or any other chunking), under MicroPython.
import hashlib
import random

from mptest import eq
from node import tlspin as tlswatch
from node.tlspin import Watch as TLSWatch

HEAPSIZE = 200000

LEAF = bytes(range(256)) * 5 + b"leaf certificate"       # stands in for the broker's DER
CA = b"the CA certificate, which is not pinned" * 20


def u24(n):
    return bytes((n >> 16, (n >> 8) & 255, n & 255))


def record(ctype, payload):
    return bytes((ctype, 3, 3, len(payload) >> 8, len(payload) & 255)) + payload


def hs(mtype, body):
    return bytes((mtype,)) + u24(len(body)) + body


def server_hello(tls13=False):
    ext = b""
    if tls13:
        ext = b"\x00\x2b\x00\x02\x03\x04" + b"\x00\x33\x00\x24\x00\x1d\x00\x20" + b"k" * 32
    else:
        ext = b"\xff\x01\x00\x01\x00"                            # renegotiation_info
    body = b"\x03\x03" + b"r" * 32 + b"\x20" + b"s" * 32 + b"\xc0\x2f\x00"
    body += bytes((len(ext) >> 8, len(ext) & 255)) + ext
    return hs(2, body)


def certificate(*certs):
    chain = b"".join(u24(len(c)) + c for c in certs)
    return hs(11, u24(len(chain)) + chain)


def tls12_flight(leaf=LEAF, request_cert=False):
    msgs = server_hello() + certificate(leaf, CA) + hs(12, b"k" * 300)
    if request_cert:
        msgs += hs(13, b"\x01\x01\x00\x04\x04\x01\x04\x03\x00\x00")
    return msgs + hs(14, b"")


def records(handshake, size):
    # The handshake messages cut into records of `size` bytes: messages span records.
    out = b""
    for i in range(0, len(handshake), size):
        out += record(22, handshake[i:i + size])
    return out


class Stream:
    """A socket with bytes to give and a log of what was written to it."""

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.written = []
        self.closed = False
        self.blocking = None
        self.timeout = None

    def readinto(self, buf):
        # a stream may come back short: here at most 100 bytes at a time, so that records are
        # cut at odd places too
        n = min(len(buf), 100, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def write(self, buf):
        self.written.append(bytes(buf))
        return len(buf)

    def close(self):
        self.closed = True

    def setblocking(self, flag):
        self.blocking = flag

    def settimeout(self, t):
        self.timeout = t


def read_exactly(watch, buf):
    # as mbedtls' fetch_input: ask again until the buffer is full (reads may come back short)
    got = 0
    while got < len(buf):
        n = watch.readinto(memoryview(buf)[got:])
        if n is None or n <= 0:
            return n if n else got
        got += n
    return got


def like_a_tls_library(watch, total):
    # Read record header then record body, as mbedtls and axTLS do; stop on refusal.
    got = 0
    while got < total:
        head = bytearray(5)
        n = read_exactly(watch, head)
        if n < 0:
            return n
        got += n
        body = bytearray((head[3] << 8) | head[4])
        if body:
            n = read_exactly(watch, body)
            if n < 0:
                return n
            got += n
    return got


def in_chunks(watch, total, sizes):
    got = 0
    i = 0
    while got < total:
        n = watch.readinto(bytearray(sizes[i % len(sizes)]))
        if n < 0:
            return n
        got += n
        i += 1
    return got


def pin(data):
    return hashlib.sha256(data).digest()


def test_pin_is_checked_however_the_bytes_are_cut():
    import binascii
    hexpin = binascii.hexlify(pin(LEAF)).decode()
    for size in (4000, 100, 7, 1):                    # handshake messages across records
        data = records(tls12_flight(), size)
        for reader in ("records", (1,), (3, 5, 8), (1000,)):
            watch = TLSWatch(Stream(data), [pin(LEAF)])
            if reader == "records":
                n = like_a_tls_library(watch, len(data))
            else:
                n = in_chunks(watch, len(data), reader)
            eq(n, len(data), "all passed through (%d, %r)" % (size, reader))
            assert watch.verified and watch.refused is None, (size, reader, watch.refused)
            eq(watch.fingerprint, hexpin, "fingerprint")


def test_wrong_pin_is_refused_when_the_leaf_ends():
    data = records(tls12_flight(), 16000)
    stream = Stream(data)
    watch = TLSWatch(stream, [pin(CA), pin(b"something else")])   # the CA's pin does not count
    eq(like_a_tls_library(watch, len(data)), -111, "refused to the TLS library, not raised")
    eq(watch.refused, tlswatch.PIN_MISMATCH, "reason")
    assert not watch.verified
    import binascii
    eq(watch.fingerprint, binascii.hexlify(pin(LEAF)).decode(), "the pin seen, for the message")


def test_any_of_several_pins_for_rotation():
    data = records(tls12_flight(), 16000)
    watch = TLSWatch(Stream(data), [pin(b"next certificate"), pin(LEAF)])
    eq(like_a_tls_library(watch, len(data)), len(data), "accepted")
    assert watch.verified


def test_fails_closed_no_application_data_before_the_pin():
    stream = Stream(records(server_hello(), 1000))
    watch = TLSWatch(stream, [pin(LEAF)])
    like_a_tls_library(watch, len(stream.data))
    eq(watch.write(record(22, b"client key exchange")), len(record(22, b"client key exchange")),
       "handshake records pass")
    appdata = record(23, b"\x10\x20MQTT CONNECT with the password")
    assert watch.write(appdata) < 0, "application data refused"
    eq([w[0] for w in stream.written], [22], "the CONNECT never reached the socket")
    eq(watch.refused, tlswatch.NO_CLEAR_CERT, "reason")


def test_tls13_is_refused_in_pin_mode():
    # TLS 1.3: ServerHello says 0x0304, then ChangeCipherSpec and encrypted records.
    data = (record(22, server_hello(tls13=True)) + record(20, b"\x01")
            + record(23, b"encrypted certificate" * 10))
    watch = TLSWatch(Stream(data), [pin(LEAF)])
    assert like_a_tls_library(watch, len(data)) < 0
    eq(watch.refused, tlswatch.NO_CLEAR_CERT, "no certificate in clear")
    assert watch.tls13, "and the ServerHello chose TLS 1.3"
    # A TLS 1.2 server that skips the certificate (resumption) is refused the same way.
    data = record(22, server_hello()) + record(20, b"\x01")
    watch = TLSWatch(Stream(data), [pin(LEAF)])
    assert like_a_tls_library(watch, len(data)) < 0
    eq((watch.refused, watch.tls13), (tlswatch.NO_CLEAR_CERT, False), "resumption")


def test_without_pins_only_watches():
    data = records(tls12_flight(request_cert=True), 500) + record(21, b"\x02\x28")
    watch = TLSWatch(Stream(data), None)
    eq(like_a_tls_library(watch, len(data)), len(data), "nothing refused")
    assert watch.verified and watch.fingerprint is None, "no hashing without pins"
    assert watch.cert_requested, "saw the CertificateRequest (mutual TLS)"
    eq(watch.alert, 40, "saw the alert (handshake_failure)")
    # after the server's ChangeCipherSpec everything passes through unparsed
    more = record(20, b"\x01") + b"\x17\x03\x03\x00\x05" + b"\xff" * 5 + b"not even TLS"
    watch2 = TLSWatch(Stream(data[:-7] + more), None)
    eq(in_chunks(watch2, len(data) - 7 + len(more), (64,)), len(data) - 7 + len(more), "passed")
    assert watch2.done


def test_not_tls_is_named():
    for junk in (b"\x20\x02\x00\x05", b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x07\x00\x00\x10"):
        watch = TLSWatch(Stream(junk), [pin(LEAF)])
        assert watch.readinto(bytearray(5)) < 0, junk
        eq(watch.refused, tlswatch.NOT_TLS, junk)


def test_malformed_certificate_message_is_refused():
    bad = hs(11, u24(10) + u24(5000) + b"short")       # first cert longer than its message
    data = records(server_hello() + bad, 16000)
    watch = TLSWatch(Stream(data), [pin(LEAF)])
    assert like_a_tls_library(watch, len(data)) < 0
    eq(watch.refused, tlswatch.BAD_CERT_MSG, "reason")
    empty = hs(11, u24(0))
    data = records(server_hello() + empty + hs(14, b""), 16000)
    watch = TLSWatch(Stream(data), [pin(LEAF)])
    assert like_a_tls_library(watch, len(data)) < 0
    eq(watch.refused, tlswatch.BAD_CERT_MSG, "an empty chain")


def test_random_cuts_and_garbage_never_raise():
    import binascii
    good = binascii.hexlify(pin(LEAF)).decode()
    random.seed(7)
    base = records(tls12_flight(), 300)
    for n in range(300):
        b = bytearray(base)
        for _ in range(1 + random.getrandbits(2)):
            b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
        watch = TLSWatch(Stream(bytes(b)), [pin(LEAF)])
        sizes = (1 + random.getrandbits(6), 5, 1 + random.getrandbits(10))
        in_chunks(watch, len(b), sizes)       # must not raise; refusals come back as -errno
        if watch.verified:                    # never verified on a certificate that differs
            eq(watch.fingerprint, good, "run %d" % n)


class Endless:
    """A stream that makes up a certificate of `size` bytes on the fly, hashing it as it goes:
    the test itself never holds it either."""

    def __init__(self, size):
        self.h = hashlib.sha256()
        self.pieces = self._pieces(size)
        self.cur = b""

    def _pieces(self, size):
        yield record(22, server_hello())
        msg_head = b"\x0b" + u24(6 + size) + u24(3 + size) + u24(size)
        left = len(msg_head) + size            # bytes of the Certificate message to send
        made = 0
        first = True
        while left:
            room = min(16384, left)
            yield bytes((22, 3, 3, room >> 8, room & 255))
            left -= room
            if first:
                yield msg_head
                room -= len(msg_head)
                first = False
            while room:
                k = min(room, 256)
                chunk = bytes(((made + i) * 7) & 255 for i in range(k))
                self.h.update(chunk)
                made += k
                room -= k
                yield chunk

    def readinto(self, buf):
        if not self.cur:
            try:
                self.cur = next(self.pieces)
            except StopIteration:
                return 0
        n = min(len(buf), len(self.cur))
        buf[:n] = self.cur[:n]
        self.cur = self.cur[n:]
        return n


def test_memory_stays_bounded_for_a_huge_certificate():
    import gc
    size = 1 << 20                                    # 1 MB: five times this test's heap
    src = Endless(size)
    expected = None
    watch = TLSWatch(src, [b"\x00" * 32])             # placeholder, set below
    gc.collect()
    base = gc.mem_alloc()
    total = 0
    buf = bytearray(2048)
    peak_growth = 0
    while True:
        n = watch.readinto(buf)
        if n <= 0:
            break
        total += n
        if total % (64 * 1024) < 2048:
            gc.collect()
            peak_growth = max(peak_growth, gc.mem_alloc() - base)
    expected = src.h.digest()
    import binascii
    eq(watch.fingerprint, binascii.hexlify(expected).decode(), "hash of the whole 1 MB streamed")
    eq(watch.refused, tlswatch.PIN_MISMATCH, "and compared with the pins")
    assert peak_growth < 16 * 1024, "the watch kept %d bytes" % peak_growth
