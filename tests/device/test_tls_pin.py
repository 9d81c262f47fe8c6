# node.tlsguard: the server's side of a TLS handshake, crafted byte by byte,
# read the way a TLS library reads it (record header, then body; or any other chunking), and
# the client's records as a TLS library writes them, under MicroPython.
import hashlib
import io
import random

from mptest import eq
from node import tlsguard
from node.tlsguard import Guard

HEAPSIZE = 200000

def u24(n):
    return bytes((n >> 16, (n >> 8) & 255, n & 255))


def record(ctype, payload):
    return bytes((ctype, 3, 3, len(payload) >> 8, len(payload) & 255)) + payload


def hs(mtype, body):
    return bytes((mtype,)) + u24(len(body)) + body


def server_hello(tls13=False, version=b"\x03\x03"):
    ext = b""
    if tls13:
        ext = b"\x00\x2b\x00\x02\x03\x04" + b"\x00\x33\x00\x24\x00\x1d\x00\x20" + b"k" * 32
    else:
        ext = b"\xff\x01\x00\x01\x00"                            # renegotiation_info
    body = version + b"r" * 32 + b"\x20" + b"s" * 32 + b"\xc0\x2f\x00"
    body += bytes((len(ext) >> 8, len(ext) & 255)) + ext
    return hs(2, body)


def der(tag, content):
    # A DER element, its length in the short or long form as DER wants it.
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = b""
    while n:
        size = bytes((n & 255,)) + size
        n >>= 8
    return bytes((tag, 0x80 | len(size))) + size + content


def made_certificate(name, key, version=True):
    """A certificate's DER structure (the TLS library never parses it here): TBSCertificate
    with [0] version (or none), serial, signature, issuer, validity, subject, then the
    SubjectPublicKeyInfo; returns (DER, SPKI)."""
    spki = der(0x30, der(0x30, b"\x06\x07rsa-alg") + der(0x03, b"\x00" + key))
    tbs = der(0x30, (der(0xA0, der(0x02, b"\x02")) if version else b"") + der(0x02, b"\x01\x23")
              + der(0x30, b"sha256WithRSA") + der(0x30, b"issuer " * 12)
              + der(0x30, b"validity" * 3) + der(0x30, name * 12) + spki
              + der(0xA3, b"extensions" * 30))
    return der(0x30, tbs + der(0x30, b"sha256WithRSA") + der(0x03, b"\x00" + b"S" * 256)), spki


LEAF, LEAF_KEY = made_certificate(b"broker ", b"K" * 270)
CA, _ = made_certificate(b"the CA ", b"C" * 270)


def certificate(*certs):
    chain = b"".join(u24(len(c)) + c for c in certs)
    return hs(11, u24(len(chain)) + chain)


def tls12_flight(leaf=LEAF, request_cert=False, chain=()):
    msgs = server_hello() + certificate(leaf, *chain) + hs(12, b"k" * 300)
    if request_cert:
        msgs += hs(13, b"\x01\x01\x00\x04\x04\x01\x04\x03\x00\x00")
    return msgs + hs(14, b"")


def records(handshake, size):
    # The handshake messages cut into records of `size` bytes: messages span records.
    out = b""
    for i in range(0, len(handshake), size):
        out += record(22, handshake[i:i + size])
    return out


class Stream(io.IOBase):
    """A socket with bytes to give and a log of what was written to it; select.poll sees it
    readable while it has bytes left (the stream protocol's MP_STREAM_POLL)."""

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

    def ioctl(self, req, arg):
        if req == 3:                            # MP_STREAM_POLL: POLLIN while bytes are left
            return arg & 1 if self.pos < len(self.data) or isinstance(self, Trickle) else 0
        return -1


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
        if n is None or n <= 0:
            return n if n else got
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
            watch = Guard(Stream(data), [pin(LEAF)])
            if reader == "records":
                n = like_a_tls_library(watch, len(data))
            else:
                n = in_chunks(watch, len(data), reader)
            eq(n, len(data), "all passed through (%d, %r)" % (size, reader))
            assert watch.verified and watch.refused is None, (size, reader, watch.refused)
            eq(watch.fingerprint, pin(LEAF), "fingerprint")


def test_wrong_pin_is_refused_when_the_leaf_ends():
    data = records(tls12_flight(chain=(CA,)), 16000)
    stream = Stream(data)
    watch = Guard(stream, [pin(CA), pin(b"something else")], max_certs=2)   # not the CA's pin
    eq(like_a_tls_library(watch, len(data)), -111, "refused to the TLS library, not raised")
    eq(watch.refused, tlsguard.PIN_MISMATCH, "reason")
    assert not watch.verified
    import binascii
    eq(watch.fingerprint, pin(LEAF), "the pin seen, for the message")


def test_any_of_several_pins_for_rotation():
    data = records(tls12_flight(), 16000)
    watch = Guard(Stream(data), [pin(b"next certificate"), pin(LEAF)])
    eq(like_a_tls_library(watch, len(data)), len(data), "accepted")
    assert watch.verified


def test_a_key_pin_holds_across_a_certificate_renewed_with_the_same_key():
    renewed, key = made_certificate(b"broker (renewed) ", b"K" * 270, version=False)
    eq(key, LEAF_KEY, "the same SubjectPublicKeyInfo")
    for leaf in (LEAF, renewed):
        for size in (16000, 7):
            data = records(tls12_flight(leaf), size)
            watch = Guard(Stream(data), [pin(b"an old certificate")], [pin(LEAF_KEY)])
            eq(in_chunks(watch, len(data), (1, 13, 300)), len(data), "key pin accepted")
            assert watch.verified
            eq(watch.key_fingerprint, pin(LEAF_KEY), "the SPKI's SHA-256")
    # The certificate pin of the old one refuses the renewed certificate; another key refuses.
    data = records(tls12_flight(renewed), 16000)
    watch = Guard(Stream(data), [pin(LEAF)])
    eq(like_a_tls_library(watch, len(data)), -111, "certificate pin: refused")
    other, other_key = made_certificate(b"broker ", b"X" * 270)
    data = records(tls12_flight(other), 16000)
    watch = Guard(Stream(data), (), [pin(LEAF_KEY)])
    eq(like_a_tls_library(watch, len(data)), -111, "another key: refused")
    eq((watch.refused, watch.key_fingerprint), (tlsguard.PIN_MISMATCH, pin(other_key)), "seen")


def test_fails_closed_no_application_data_before_the_pin():
    stream = Stream(records(server_hello(), 1000))
    watch = Guard(stream, [pin(LEAF)])
    like_a_tls_library(watch, len(stream.data))
    eq(watch.write(record(22, b"client key exchange")), len(record(22, b"client key exchange")),
       "handshake records pass")
    appdata = record(23, b"\x10\x20MQTT CONNECT with the password")
    assert watch.write(appdata) < 0, "application data refused"
    eq([w[0] for w in stream.written], [22], "the CONNECT never reached the socket")
    eq(watch.refused, tlsguard.NO_CLEAR_CERT, "reason")


def test_tls13_is_refused_in_pin_mode():
    # TLS 1.3: ServerHello says 0x0304, then ChangeCipherSpec and encrypted records.
    data = (record(22, server_hello(tls13=True)) + record(20, b"\x01")
            + record(23, b"encrypted certificate" * 10))
    watch = Guard(Stream(data), [pin(LEAF)])
    assert like_a_tls_library(watch, len(data)) < 0
    eq(watch.refused, tlsguard.NO_CLEAR_CERT, "no certificate in clear")
    # A TLS 1.2 server that skips the certificate (resumption) is refused the same way.
    data = record(22, server_hello()) + record(20, b"\x01")
    watch = Guard(Stream(data), [pin(LEAF)])
    assert like_a_tls_library(watch, len(data)) < 0
    eq(watch.refused, tlsguard.NO_CLEAR_CERT, "resumption")


def test_the_guard_watches_what_explains_a_refusal():
    data = records(tls12_flight(request_cert=True, chain=(CA, CA, CA)), 500) + record(21, b"\x02\x28")
    guard = Guard(Stream(data), max_certs=4)
    eq(like_a_tls_library(guard, len(data)), len(data), "nothing refused")
    assert guard.cert_requested, "saw the CertificateRequest (mutual TLS)"
    eq(guard.alert, 40, "saw the alert (handshake_failure)")
    # after the server's ChangeCipherSpec only record headers are read
    more = record(20, b"\x01") + record(22, b"\xee" * 40) + record(23, b"\xff" * 5)
    guard = Guard(Stream(data[:-7] + more), max_certs=4)
    eq(in_chunks(guard, len(data) - 7 + len(more), (64,)), len(data) - 7 + len(more), "passed")
    assert guard.done and guard.refused is None


def test_not_tls_is_named():
    for junk in (b"\x20\x02\x00\x05", b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x07\x00\x00\x10"):
        watch = Guard(Stream(junk), [pin(LEAF)])
        assert watch.readinto(bytearray(5)) < 0, junk
        eq(watch.refused, tlsguard.NOT_TLS, junk)


def malformed():
    """Certificate messages that must be refused before the TLS library reads them: (what,
    message). The genuine pinned leaf is in each."""
    entry = u24(len(LEAF)) + LEAF
    out = []
    for lie in range(8):                                  # a list length that lies
        out.append(("list length %d" % lie, hs(11, u24(lie) + entry)))
    out.append(("list length one over", hs(11, u24(len(entry) + 1) + entry)))
    out.append(("list length one short", hs(11, u24(len(entry) - 1) + entry)))
    cut = CA[:200]                                        # a truncated second certificate
    two = entry + u24(len(CA)) + cut
    out.append(("truncated second entry", hs(11, u24(len(two)) + two)))
    two = entry + u24(len(cut)) + cut
    out.append(("second entry shorter than its DER", hs(11, u24(len(two)) + two)))
    longer = u24(len(LEAF) + 3) + LEAF + b"xyz"
    out.append(("entry longer than its DER", hs(11, u24(len(longer)) + longer)))
    out.append(("not DER", hs(11, u24(7) + u24(4) + b"\x04\x02ab")))
    out.append(("an empty list", hs(11, u24(0))))
    out.append(("a header cut short", hs(11, u24(len(entry) + 2) + entry + b"\x00\x00")))
    return out


def test_a_malformed_certificate_message_is_refused_before_the_library_reads_it():
    for what, msg in malformed():
        data = record(22, server_hello()) + record(22, msg + hs(14, b""))
        for reader in ("records", (1,), (7, 300)):
            stream = Stream(data)
            watch = Guard(stream, [pin(LEAF)], max_certs=2)
            if reader == "records":
                # The record that holds the message is refused when it is read: the library
                # gets an error for it, never its bytes.
                head = bytearray(5)
                read_exactly(watch, head)
                read_exactly(watch, bytearray((head[3] << 8) | head[4]))
                head = bytearray(5)
                eq(read_exactly(watch, head), 5, what)
                n = read_exactly(watch, bytearray((head[3] << 8) | head[4]))
            else:
                n = in_chunks(watch, len(data), reader)
            eq(n, -111, "%s (%r)" % (what, reader))
            assert watch.refused in (tlsguard.BAD_CERT_MSG, tlsguard.BIG_CERT), (what, watch.refused)


def test_a_chain_is_refused_on_axtls_unless_allowed():
    data = records(tls12_flight(chain=(CA,)), 16000)
    watch = Guard(Stream(data), [pin(LEAF)])
    eq(like_a_tls_library(watch, len(data)), -111, "max_certs 1: the CA is one too many")
    eq((watch.refused, watch.detail), (tlsguard.TOO_MANY_CERTS, 2), "reason, and which entry")
    watch = Guard(Stream(data), [pin(LEAF)], max_certs=2)
    eq(like_a_tls_library(watch, len(data)), len(data), "max_certs 2: accepted")
    assert watch.verified


def test_size_caps_refuse_before_the_bytes_arrive():
    data = records(tls12_flight(), 16000)
    watch = Guard(Stream(data), [pin(LEAF)], max_cert_bytes=len(LEAF) - 1)
    eq(like_a_tls_library(watch, len(data)), -111, "a certificate over the cap")
    eq((watch.refused, watch.detail), (tlsguard.BIG_CERT, len(LEAF)), "its length")
    # A 4 MB message: refused at its 4-byte header, nothing of it read or kept.
    huge = record(22, server_hello() + b"\x0b" + u24(4 << 20))
    for args in (([pin(LEAF)],), ()):
        stream = Stream(huge + b"\x00" * 100)
        guard = Guard(stream, *args)
        assert in_chunks(guard, len(huge), (64,)) < 0
        eq((guard.refused, guard.detail), (tlsguard.HUGE_MESSAGE, 4 << 20), args)
        assert stream.pos < len(huge) + 64, "nothing read past the header's chunk"


def test_tls_below_1_2_is_refused():
    for version, detail in ((b"\x03\x01", 0x0301), (b"\x03\x02", 0x0302), (b"\x03\x00", 0x0300)):
        data = records(server_hello(version=version) + certificate(LEAF) + hs(14, b""), 16000)
        for guard in (Guard(Stream(data), [pin(LEAF)]), Guard(Stream(data))):
            assert like_a_tls_library(guard, len(data)) < 0, version
            eq((guard.refused, guard.detail), (tlsguard.OLD_TLS, detail), version)


def finished_flight(after=b""):
    # The server's end of a full handshake: ChangeCipherSpec, then its Finished (encrypted).
    return record(20, b"\x01") + record(22, b"\x5a" * 40) + after


def test_renegotiation_is_refused_from_either_side():
    base = records(tls12_flight(), 16000)
    cases = (
        ("HelloRequest in clear", records(server_hello() + hs(0, b""), 16000)),
        ("HelloRequest in clear after the Certificate", base + record(22, hs(0, b""))),
        ("a handshake record after the server's Finished",
         base + finished_flight(record(22, b"\x5b" * 40))),
        ("after application data", base + finished_flight(record(23, b"\x01" * 30)
                                                         + record(22, b"\x5b" * 40))),
    )
    for what, data in cases:
        for guard in (Guard(Stream(data), [pin(LEAF)]), Guard(Stream(data))):
            n = in_chunks(guard, len(data), (1, 64))
            eq((n, guard.refused), (-111, tlsguard.RENEGOTIATION), what)
    # The client's side: after its ChangeCipherSpec and Finished, a second handshake record is
    # a new ClientHello (a HelloRequest hidden in the Finished's record was obeyed): refused,
    # and nothing of it reaches the socket.
    for args in (([pin(LEAF)],), ()):
        data = base + finished_flight()
        stream = Stream(data)
        guard = Guard(stream, *args)
        eq(like_a_tls_library(guard, len(data)), len(data), "a full handshake passes")
        for rec in (record(22, b"client key exchange"), record(20, b"\x01"),
                    record(22, b"\x77" * 40), record(23, b"\x88" * 60)):
            eq(guard.write(rec), len(rec), "the client's own handshake and data")
        hello_again = record(22, b"\x01" + b"\x00" * 50)
        eq(guard.write(hello_again), -111, "refused at its header")
        eq(guard.refused, tlsguard.RENEGOTIATION, args)
        assert not any(w.startswith(b"\x16\x03\x03\x00\x33") for w in stream.written)


class Trickle(Stream):
    """A server that sends the same record again and again, one byte per read."""

    def readinto(self, buf):
        buf[0] = self.data[self.pos % len(self.data)]
        self.pos += 1
        return 1


def test_past_the_deadline_reads_and_writes_time_out():
    import time
    data = records(tls12_flight(), 16000)
    for args in (([pin(LEAF)],), ()):
        stream = Stream(data)
        guard = Guard(stream, *args, deadline=time.ticks_add(time.ticks_ms(), -1))
        eq(guard.readinto(bytearray(5)), -110, "a read")
        eq(guard.write(b"\x16\x03\x03\x00\x01x"), -110, "a write")
        assert guard.timed_out and stream.pos == 0 and not stream.written
    # A server that trickles an endless handshake: each read brings a byte, and the deadline
    # still ends it.
    stream = Trickle(record(22, hs(12, b"k" * 16000)))
    guard = Guard(stream, deadline=time.ticks_add(time.ticks_ms(), 100))
    t0 = time.ticks_ms()
    while guard.readinto(bytearray(64)) == 1 and time.ticks_diff(time.ticks_ms(), t0) < 5000:
        pass
    assert guard.timed_out and guard.refused is None, guard.refused
    assert time.ticks_diff(time.ticks_ms(), t0) < 1000, "cut at the deadline"
    # The socket's own wait is cut to the time left, and its timeout is put back after.
    stream = Stream(data)
    guard = Guard(stream, deadline=time.ticks_add(time.ticks_ms(), 2000), timeout=10)
    guard.readinto(bytearray(5))
    eq(stream.timeout, 10, "the socket's timeout as it was")


def test_random_cuts_and_garbage_never_raise():
    import binascii
    good = binascii.hexlify(pin(LEAF)).decode()
    random.seed(7)
    base = records(tls12_flight(chain=(CA,)), 300)
    for n in range(300):
        b = bytearray(base)
        for _ in range(1 + random.getrandbits(2)):
            b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
        watch = Guard(Stream(bytes(b)), [pin(LEAF)], max_certs=2)
        sizes = (1 + random.getrandbits(6), 5, 1 + random.getrandbits(10))
        in_chunks(watch, len(b), sizes)       # must not raise; refusals come back as -errno
        if watch.verified:                    # never verified on a certificate that differs
            eq(watch.fingerprint, pin(LEAF), "run %d" % n)
