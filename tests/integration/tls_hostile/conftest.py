"""Fixtures of the hostile TLS server tests: the server, the certificates it presents, and the
node's TLS client on both interpreters (the mbedtls unix port, the ESP8266 emulator with axTLS;
`interpreter` runs a test on each)."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostiletls import HostileServer, identities
from hostiletls.client import Interpreter, TlsClient

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

import emu  # noqa: E402

INTERPRETERS = ("unix", "esp8266")


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


@pytest.fixture(params=INTERPRETERS)
def interpreter(request):
    if request.param == "unix":
        return Interpreter.unix_port()
    return Interpreter.esp8266(request.getfixturevalue("esp8266_board"))


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture
def tls_client(interpreter, tmp_path, certificates):
    (tmp_path / "ca.der").write_bytes(certificates.ca)
    with TlsClient(interpreter, tmp_path) as client:
        yield client
