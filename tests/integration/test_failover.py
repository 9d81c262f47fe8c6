"""Failover across broker hosts (mqtt.hosts): the real firmware against real Mosquittos.

A wake tries one broker: the one that answered last (kept in RTC memory), or after a
connection that failed, the next one of the list, on the backoff schedule. A broker whose
certificate does not check never sees CONNECT, so never the password."""

import json
import re

from host_tools.broker.process import free_port
from host_tools.monitor import Monitor
from host_tools.pki import Pki

from tcpproxy import TcpProxy

LOCAL = "127.0.0.1"


def _entry(port, name="localhost"):
    return (LOCAL, port, name)


def _tried(wake):
    """Which broker of the list the wake tried: 1-based, as the node logs it."""
    found = re.findall(r"node: broker (\d+) of (\d+)", wake.output)
    assert len(found) == 1, wake.output
    return int(found[0][0])


def _delivered(wake):
    return "delivery failed" not in wake.output and "(buffered 0 in flash, 0 in RTC memory)" in wake.output


def _monitor(broker, name):
    return Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor", broker.users["monitor"],
                   client_id=name, clean_session=False).start()


def test_a_wake_moves_down_the_list_and_starts_with_the_broker_that_answered_last(
        broker_factory, node_sim):
    first = broker_factory()
    second = broker_factory(users=first.users)
    nobody = free_port()                 # nothing listens there: connection refused
    sim = node_sim(broker=first, bundle={"hosts": [_entry(nobody), _entry(first.tls_port),
                                                   _entry(second.tls_port)]})
    watch_second = _monitor(second, "test-monitor-second")
    try:
        w = sim.wake()
        assert _tried(w) == 1 and not _delivered(w), w.output
        w = sim.wake()                   # on the backoff schedule, the next one
        assert _tried(w) == 2 and _delivered(w), w.output
        w = sim.wake()
        assert _tried(w) == 2 and _delivered(w), "the one that answered last goes first:\n" + w.output
        assert sim.wait_seqs(sim.taken())

        first.stop()
        w = sim.wake()
        assert _tried(w) == 2 and not _delivered(w), w.output
        w = sim.wake()
        assert _tried(w) == 3 and _delivered(w), w.output
        first.start()
        w = sim.wake()
        assert _tried(w) == 3 and _delivered(w), "the second answered last:\n" + w.output
        late = [n for n in sim.taken() if n not in sim.seqs()]
        assert late, "readings were taken while the first broker was down"
        got = watch_second.wait_for(
            lambda _: set(late) <= {json.loads(m.payload)["seq"] for m in watch_second.messages
                                    if m.topic.endswith("/readings")}, 15)
        assert got, "the readings taken while the first broker was down reached the second"
    finally:
        watch_second.stop()


def test_the_password_never_goes_to_a_broker_whose_certificate_does_not_check(
        tmp_path, broker_factory, node_sim):
    honest = broker_factory()
    stranger = Pki(tmp_path / "stranger-pki")
    stranger.create_ca(common_name="someone else's CA")
    stranger.issue_broker(dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    # A real broker that would take the device's password, with a certificate from a CA the
    # device does not trust; the proxy in front of it records every TLS record of the session.
    impostor = broker_factory(pki=stranger, users=honest.users)
    tap = TcpProxy(impostor.tls_port)
    try:
        sim = node_sim(broker=honest, bundle={"hosts": [_entry(tap.port),
                                                         _entry(honest.tls_port)]})
        w = sim.wake()
        assert _tried(w) == 1 and not _delivered(w), w.output
        assert tap.connections == 1, "the node tried the impostor"
        sent = [r.type for s in tap.sessions for r in s.records if r.sender == "client"]
        assert 22 in sent, "the node began a handshake with the impostor"
        assert 23 not in sent, ("the node sent application data (CONNECT, with the password) "
                                "to a broker whose certificate did not check")
        assert "as node-1" not in impostor.log_text()
        w = sim.wake()
        assert _tried(w) == 2 and _delivered(w), w.output
        assert sim.wait_seqs(sim.taken())
    finally:
        tap.close()


def test_each_broker_is_checked_against_the_name_its_certificate_carries(broker_factory, node_sim):
    broker = broker_factory()
    sim = node_sim(broker=broker, bundle={"hosts": [_entry(broker.tls_port, "broker.elsewhere"),
                                                    _entry(broker.tls_port, "localhost")]})
    w = sim.wake()
    assert _tried(w) == 1 and not _delivered(w), w.output
    assert "broker.elsewhere" in w.output, "the refusal names the name that did not match"
    assert "as node-1" not in broker.log_text()
    w = sim.wake()
    assert _tried(w) == 2 and _delivered(w), w.output
