"""A key pin survives a renewal of the broker's certificate over the same key: the firmware's
wake, in pin mode, against a real Mosquitto serving a certificate from `certs broker --renew`
(host_tools' Pki.renew_broker) after a restart. A node that pins the key (sha256//...)
still connects; a node that pins the old certificate is refused with "wrong pin" before
CONNECT. On both interpreters: the unix port (mbedtls, its verify callback) and the esp8266
emulator (axTLS, node.tlsguard reading the Certificate message as it passes)."""

import os
import re
import sys
from pathlib import Path

import pytest

from host_tools import certs, provision
from host_tools.pki import Pki
from host_tools.simnode import SimNode

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import emu  # noqa: E402

DEVICE = "node-1"
FAILED = re.compile(r"node: delivery failed \((.*)\); try \d+")
DELIVERED = "(buffered 0 in flash, 0 in RTC memory)"


@pytest.fixture
def pki(tmp_path):
    """A PKI of this test's own: the renewal rewrites its broker certificate."""
    p = Pki(tmp_path / "pki")
    p.create_ca(common_name="mqtt-node renewal CA")
    p.issue_broker(dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    return p


@pytest.fixture(params=["unix", "esp8266"])
def interpreter(request):
    """(board name, node factory(bundle, sim) -> a node with .wake())."""
    if request.param == "unix":
        return "unix", lambda bundle, sim: SimNode(bundle, sim)
    try:
        board = emu.ensure()["esp8266"]
    except emu.EmulatorMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    return "esp8266", lambda bundle, sim: emu.EmuNode(board, bundle, sim)


def node(interpreter, broker, folder, pin):
    board, make = interpreter
    wifi = {"ssid": "lab", "password": "secret"} if board != "unix" else None
    bundle = provision.write_bundle(
        folder / "bundle", DEVICE, host="127.0.0.1", port=broker.tls_port, ca_der=broker.ca_der,
        user=DEVICE, password=broker.users[DEVICE], server_hostname="localhost",
        tls_mode="pin", pins=[pin], board=board, wifi=wifi,
        node={"interval_s": 60, "stats_every_s": 100000})
    return make(bundle, folder / "sim")


def wake(n):
    w = n.wake(timeout=60)
    assert w.outcome == "slept", w.output
    return w.output


def test_a_key_pin_survives_a_renewal_a_certificate_pin_does_not(interpreter, pki, tmp_path,
                                                                  broker_factory):
    old = pki.broker()
    key_pin, cert_pin = certs.spki_pin(old), certs.fingerprint_sha256(old)
    broker = broker_factory(pki=pki)
    by_key = node(interpreter, broker, tmp_path / "by-key", key_pin)
    by_cert = node(interpreter, broker, tmp_path / "by-cert", cert_pin)
    for n in (by_key, by_cert):
        out = wake(n)
        assert DELIVERED in out and not FAILED.search(out), out

    _, new = pki.renew_broker()
    assert certs.spki_pin(new) == key_pin and certs.fingerprint_sha256(new) != cert_pin
    broker.restart()

    out = wake(by_key)
    assert DELIVERED in out and not FAILED.search(out), out
    out = wake(by_cert)
    refused = FAILED.search(out)
    assert refused, out
    message = refused.group(1)
    assert "wrong pin" in message and "tls.pins" in message, message
    assert certs.fingerprint_sha256(new) in message and cert_pin in message, message
    assert "(buffered 0 in flash, 1 in RTC memory)" in out, out        # the reading kept
    assert broker.log_text().count(f"as {DEVICE}") == 3, broker.log_text()
