"""The hostile TLS server against OpenSSL (CPython's ssl), so that what the node does against it
is the node's doing: its handshakes complete at TLS 1.0, 1.1 and 1.2 with RSA and ECDHE key
exchange, its Finished messages verify both ways, its renegotiation completes, its impostor is
caught by the library, trickling delivers one byte per interval; and the reference check of
Certificate messages that the fuzz judges by."""

import socket
import ssl
import time
import warnings

import pytest

from hostiletls import Plan
from hostiletls.certmsg import MALFORMED, MESSAGE_TOO_BIG, TOO_BIG, TOO_MANY, problems
from hostiletls.wire import TLS10, TLS11, TLS12, certificate_list, u24

from rig import well_behaved

CONNECT = b"\x10\x05hello"


def openssl_client(version, ciphers):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tls_version = {TLS10: ssl.TLSVersion.TLSv1, TLS11: ssl.TLSVersion.TLSv1_1,
                       TLS12: ssl.TLSVersion.TLSv1_2}[version]
        ctx.minimum_version = ctx.maximum_version = tls_version
    return ctx


def exchange(server, ctx, rounds=1):
    """Handshake, then CONNECT and its answer `rounds` times; returns the answers."""
    raw = socket.create_connection((server.host, server.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        answers = []
        for _ in range(rounds):
            tls.sendall(CONNECT)
            answers.append(tls.recv(16))
    return answers


@pytest.mark.parametrize("version, ciphers, key_exchange", [
    (TLS12, "AES128-SHA256", "rsa"),
    (TLS12, "AES128-SHA", "rsa"),
    (TLS12, "ECDHE-RSA-AES128-SHA256", "ecdhe_rsa"),
    (TLS11, "AES128-SHA", "rsa"),
    (TLS10, "AES128-SHA", "rsa"),
])
def test_openssl_completes_a_handshake_and_gets_connack(version, ciphers, key_exchange, hostile,
                                                        certificates):
    hostile.plan = well_behaved(certificates, version=version, key_exchange=key_exchange)
    mark = hostile.mark()
    assert exchange(hostile, openssl_client(version, ciphers)) == [b"\x20\x02\x00\x00"]
    (log,) = hostile.since(mark)
    assert log.first("client finished").detail == "verified", log.summary()
    # (TLS 1.0 clients send an empty record ahead of each, against the chained-IV attack)
    assert [d for d in log.application_data() if d] == [CONNECT], log.summary()


def test_openssl_renegotiates_when_asked_and_the_log_shows_it(hostile, certificates):
    hostile.plan = well_behaved(certificates, hello_request="encrypted, after Finished",
                                renegotiation_chain=(certificates.other.der,),
                                renegotiation_key=certificates.other.key)
    mark = hostile.mark()
    exchange(hostile, openssl_client(TLS12, "AES128-SHA256"), rounds=2)
    (log,) = hostile.since(mark)
    names = log.names()
    assert "renegotiation client hello" in names and "renegotiated" in names, log.summary()
    assert log.application_data(after="renegotiated"), log.summary()


def test_openssl_catches_the_impostor_without_the_key(hostile, certificates):
    hostile.plan = Plan(chain=(certificates.pinned.der,), key=None)
    with pytest.raises(ssl.SSLError, match="(?i)bad record mac|decrypt|bad_record_mac"):
        exchange(hostile, openssl_client(TLS12, "AES128-SHA256"))


@pytest.mark.parametrize("delivery, interval", [("trickle", 0.2), ("byte by byte", 0.001)])
def test_slow_deliveries_send_one_byte_at_a_time(delivery, interval, hostile, certificates):
    """The server sends a byte, then waits `interval`: N bytes take (N-1) intervals at least.
    At 0.2 s each byte arrives alone; at 1 ms a loaded machine may read two at once, so there
    only the pace is checked."""
    hostile.plan = well_behaved(certificates, delivery=delivery, trickle_interval=interval)
    want = 6 if interval >= 0.1 else 40
    with socket.create_connection((hostile.host, hostile.port), timeout=5) as s:
        hello = openssl_client(TLS12, "AES128-SHA256").wrap_bio(
            ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            hello.do_handshake()
        s.sendall(out.read())
        chunks = [s.recv(1)]
        started = time.monotonic()
        while sum(map(len, chunks)) < want:
            chunks.append(s.recv(100))
        took = time.monotonic() - started
    if interval >= 0.1:
        assert all(len(c) == 1 for c in chunks), chunks
    assert took >= (sum(map(len, chunks)) - 1) * interval * 0.8, (took, chunks)


def test_the_reference_check_of_certificate_messages():
    a, b = b"\x30\x03\x02\x01\x05", b"\x30\x82\x00\x01\x00"
    ok = certificate_list([a])
    assert problems(ok, 1, 4096)[0] == set()
    assert problems(certificate_list([a, b]), 1, 4096)[0] == {TOO_MANY}
    assert problems(certificate_list([a, b]), 2, 4096)[0] == set()
    assert problems(certificate_list([a]), 1, 4)[0] == {TOO_BIG, MESSAGE_TOO_BIG}
    assert MALFORMED in problems(u24(len(ok) - 2) + ok[3:], 1, 4096)[0]      # list length
    assert MALFORMED in problems(ok[:-1], 1, 4096)[0]                          # truncated
    assert MALFORMED in problems(certificate_list([a + b"\x00"]), 1, 4096)[0]  # not its DER
    assert problems(certificate_list([a + b"\x00"]), 1, 4096, exact_der=False) == (set(), [a])
    assert MALFORMED in problems(u24(0), 1, 4096)[0]                           # no leaf
