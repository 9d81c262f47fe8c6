"""The TLS refusal matrix, at the node level: each way the broker cannot be authenticated, run
through the real firmware wake (not the MQTT client alone, as test_tls_broker.py does), each
refused with its own message naming the cause, the reading kept for later, and in each the
broker never receives a CONNECT (which carries the password): its log says no client logged
in, and a counting proxy in front of it saw no encrypted record from the node at all (CONNECT
is the first one the node sends)."""

import datetime as dt
import re

import pytest

from host_tools import certs

from tcpproxy import TcpProxy
from test_tls_broker import NOW, broker_cert

FAILED = re.compile(r"node: delivery failed \((.*)\); try \d+")
OTHER_NAME = "broker.example"
# case -> words the node's message must carry: the cause, and where to fix it.
CAUSES = {
    "untrusted CA": ("untrusted CA", "tls.ca"),
    "expired": ("expired", "renew"),
    "not yet valid": ("not valid yet", "clock"),
    "wrong name": ("wrong hostname", OTHER_NAME),
    "wrong pin": ("wrong pin", "tls.pins"),
    "self-signed": ("self-signed",),
    "plain TCP on the TLS port": ("plain MQTT listener", "8883"),
    # This client offers TLS 1.2 only (pin mode needs the certificate in clear): the broker
    # refuses its version before any certificate is sent.
    "TLS 1.3-only broker, pin mode": ("TLS version", "TLS 1.2", "tls_version tlsv1.2"),
    "client certificate required": ("requires a client certificate", "tls.cert"),
}
messages = {}       # case -> the node's message, for the test that compares them


def self_signed(tmp_path):
    """A broker certificate for localhost signed by its own key, the usual `openssl req -x509`."""
    key = certs.generate_key("rsa")
    itself = certs.build_ca("localhost", key)
    cert = certs.build_leaf(itself, key, "localhost", key, dns_names=("localhost",),
                            ip_addresses=("127.0.0.1",))
    cert_path, key_path = tmp_path / "self-signed.crt", tmp_path / "self-signed.key"
    certs.write_public(cert_path, certs.cert_pem(cert))
    certs.write_secret(key_path, certs.key_pem(key), force=True)
    return cert_path, key_path


def other_ca(tmp_path):
    der = tmp_path / "other-ca.der"
    der.write_bytes(certs.cert_der(certs.build_ca("some other CA", certs.generate_key("ec"))))
    return der


def setup(case, tmp_path, test_pki, broker_factory):
    """(broker options, the node's bundle options, whether to dial the plain port)."""
    pin = certs.fingerprint_sha256(certs.load_cert(test_pki.broker_cert))
    broker, bundle, plain = {}, {}, False
    if case == "untrusted CA":
        bundle = {"ca_der": other_ca(tmp_path)}
    elif case == "expired":
        cert, key, _ = broker_cert(tmp_path, test_pki, "expired", days=1,
                                   not_before=NOW - dt.timedelta(days=10))
        broker = {"certfile": cert, "keyfile": key}
    elif case == "not yet valid":
        cert, key, _ = broker_cert(tmp_path, test_pki, "future", days=30,
                                   not_before=NOW + dt.timedelta(days=3))
        broker = {"certfile": cert, "keyfile": key}
    elif case == "wrong name":
        bundle = {"server_hostname": OTHER_NAME}
    elif case == "wrong pin":
        bundle = {"tls_mode": "pin", "pins": ["ab" * 32]}
    elif case == "self-signed":
        cert, key = self_signed(tmp_path)
        broker = {"certfile": cert, "keyfile": key}
    elif case == "plain TCP on the TLS port":
        plain = True
    elif case == "TLS 1.3-only broker, pin mode":
        broker = {"tls_version": "tlsv1.3"}
        bundle = {"tls_mode": "pin", "pins": [pin]}
    elif case == "client certificate required":
        broker = {"require_certificate": True}
    return broker, bundle, plain


def refuse(case, tmp_path, test_pki, broker_factory, node_sim, report=None):
    """One wake against the broken setup; returns the node's message, after checking the
    refusal: no CONNECT reached the broker, the reading was kept."""
    broker_opts, bundle, plain = setup(case, tmp_path, test_pki, broker_factory)
    b = broker_factory(extra=["log_type debug"], **broker_opts)
    proxy = TcpProxy(b.plain_port if plain else b.tls_port)
    try:
        sim = node_sim(broker=b, monitor=False, bundle=dict(bundle, port=proxy.port))
        w = sim.wake()
    finally:
        proxy.close()
    found = FAILED.search(w.output)
    assert w.outcome == "slept" and found, w.output
    message = found.group(1)
    # The refusal kept the reading for a later wake.
    assert "(buffered 0 in flash, 1 in RTC memory)" in w.output, w.output
    # The node reached the broker, and sent nothing encrypted: CONNECT never left it.
    assert proxy.sessions, "the node never reached the broker"
    sent = [r for s in proxy.sessions for r in s.records if r.sender == "client"]
    assert sent and all(r.type != 23 for r in sent), sent
    log = b.log_text()
    for mark in ("Received CONNECT", "New client connected", "as node-1", "CONNACK to node-1"):
        assert mark not in log, f"{case}: the broker got a CONNECT ({mark!r}):\n{log}"
    messages[case] = message
    if report:
        report(case, message, client_records=len(sent), client_data_records=0)
    return message


@pytest.mark.parametrize("case", list(CAUSES))
def test_refused_before_connect_with_a_message_naming_the_cause(case, tmp_path, test_pki, broker_factory,
                                                                 node_sim, refusal_report):
    message = refuse(case, tmp_path, test_pki, broker_factory, node_sim, refusal_report)
    for word in CAUSES[case]:
        assert word in message, f"{case}: {word!r} not in the node's message: {message}"


def test_each_refusal_has_a_message_of_its_own(tmp_path, test_pki, broker_factory, node_sim):
    cases = list(CAUSES)
    for case in cases:
        if case not in messages:        # the case's own test did not run (-k)
            folder = tmp_path / re.sub(r"\W+", "-", case)
            folder.mkdir()
            refuse(case, folder, test_pki, broker_factory, node_sim)
    assert len({messages[c] for c in cases}) == len(cases), "\n".join(
        f"{case}: {messages[case]}" for case in sorted(cases, key=messages.get))
