"""Fixtures and helpers of the hostile TLS server tests (test_tls_hostile_*.py): the server,
the certificates it presents, and the node's TLS client on both interpreters (the mbedtls unix
port, the ESP8266 emulator with axTLS). Test modules import what they use from here."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostiletls import HostileServer, Plan, identities
from hostiletls.client import PASSWORD, Interpreter, TlsClient, request

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import emu  # noqa: E402

INTERPRETERS = ("unix", "esp8266")
SECRET = PASSWORD.encode()


@pytest.fixture(scope="session")
def certificates(test_pki):
    """pinned: the broker's (its key known to the server); other: a leaf of the same CA that
    is not pinned; big: a well-formed leaf over the 4096-byte cap; ca: the CA's DER."""
    return SimpleNamespace(pinned=identities.broker(test_pki),
                           other=identities.issue(test_pki, "localhost"),
                           big=identities.issue(test_pki, "localhost", padding=4500),
                           ca=identities.ca_der(test_pki))


@pytest.fixture(scope="session")
def esp8266_board():
    try:
        return emu.ensure()["esp8266"]
    except emu.EmulatorMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def interpreter_of(name, request_):
    if name == "unix":
        return Interpreter.unix_port()
    return Interpreter.esp8266(request_.getfixturevalue("esp8266_board"))


@pytest.fixture(params=INTERPRETERS)
def interpreter(request):
    return interpreter_of(request.param, request)


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture
def tls_client(interpreter, tmp_path, certificates):
    (tmp_path / "ca.der").write_bytes(certificates.ca)
    with TlsClient(interpreter, tmp_path) as client:
        yield client


def pin_mode(*idents):
    return {"mode": "pin", "pins": [i.pin for i in idents]}


def attempt(server, client, plan, tls, bound=60.0, settle=10.0, timeout=5):
    """The client's attempt against the server under `plan`: (Outcome, the sessions it
    opened, each ended)."""
    server.plan = plan
    mark = server.mark()
    outcome = client.attempt(request(server, tls, timeout=timeout), bound=bound)
    return outcome, server.since(mark, settle)


def story(outcome, sessions):
    """The attempt, told for an assertion's message."""
    return f"client: {outcome}\n" + "\n".join(f"server session {i}: {s.summary()}"
                                              for i, s in enumerate(sessions))


def no_application_data(sessions):
    return not any(s.application_data() for s in sessions)


def refused(outcome, sessions, *words):
    """The attempt was refused with a TLSError naming the cause (any of `words`), and not a
    byte of application data (CONNECT, the password) reached the server."""
    assert outcome.kind == "TLSError", story(outcome, sessions)
    assert outcome.message.startswith("TLS: broker localhost: "), story(outcome, sessions)
    assert any(w in outcome.message for w in words), story(outcome, sessions)
    assert no_application_data(sessions), story(outcome, sessions)


def connected(outcome, sessions):
    """CONNECT with the password went out, once, to the server that completed the handshake,
    and CONNACK came back."""
    assert outcome.kind == "connected", story(outcome, sessions)
    assert sum(s.carried(SECRET) for s in sessions) == 1, story(outcome, sessions)


def well_behaved(certificates, **kw):
    return Plan(chain=(certificates.pinned.der,), key=certificates.pinned.key, **kw)
