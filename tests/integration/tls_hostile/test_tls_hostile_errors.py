"""What a failed handshake is called. An impostor that holds the pinned certificate (it is
public) but not its key is caught by the TLS library: it cannot read the premaster secret, so
its Finished fails the MAC check; with a signed key exchange (ECDHE, mbedtls only: axTLS does
RSA key exchange alone) its signature fails. Both are a TLSError, never an OSError that the
node would retry as a network fault. "Requires a client certificate" is said only when the
server asked for one and refused the handshake for the lack of it; a server that asked for one
and failed for another reason is named for that reason."""

import pytest

from hostiletls import Plan
from hostiletls.wire import TLS10

from rig import attempt, no_application_data, pin_mode, refused, story, well_behaved

CLIENT_CERT_WORDS = "client certificate"


def impostor(certificates, **kw):
    """Presents the pinned certificate without its key."""
    return Plan(chain=(certificates.pinned.der,), key=None, **kw)


def tls_error_without_client_certificate(outcome, sessions, *words):
    told = story(outcome, sessions)
    assert outcome.kind == "TLSError", told
    assert CLIENT_CERT_WORDS not in outcome.message, told
    assert not words or any(w in outcome.message for w in words), told
    assert no_application_data(sessions), told


@pytest.mark.parametrize("asks_for_client_cert", [False, True],
                         ids=["", "asking for a client certificate"])
def test_an_impostor_with_the_pinned_certificate_but_not_its_key_is_a_tls_error(
        asks_for_client_cert, hostile, tls_client, certificates):
    outcome, sessions = attempt(hostile, tls_client,
                                impostor(certificates, request_client_cert=asks_for_client_cert),
                                pin_mode(certificates.pinned))
    tls_error_without_client_certificate(outcome, sessions)


@pytest.mark.parametrize("interpreter", ["unix"], indirect=True)
@pytest.mark.parametrize("asks_for_client_cert", [False, True],
                         ids=["", "asking for a client certificate"])
def test_a_key_exchange_signed_by_another_key_is_a_tls_error(asks_for_client_cert, hostile,
                                                             tls_client, certificates):
    plan = impostor(certificates, key_exchange="ecdhe_rsa", signing_key=certificates.other.key,
                    request_client_cert=asks_for_client_cert)
    outcome, sessions = attempt(hostile, tls_client, plan, pin_mode(certificates.pinned))
    tls_error_without_client_certificate(outcome, sessions)


def test_a_server_that_requires_a_client_certificate_is_named_for_it(
        hostile, tls_client, certificates):
    plan = well_behaved(certificates, request_client_cert=True, refuse_client_cert=True)
    outcome, sessions = attempt(hostile, tls_client, plan, pin_mode(certificates.pinned))
    refused(outcome, sessions, "requires a client certificate")


@pytest.mark.parametrize("failure", ["wrong pin", "TLS 1.0"])
def test_a_server_that_asks_for_a_client_certificate_and_fails_otherwise_is_named_for_that(
        failure, hostile, tls_client, certificates):
    if failure == "wrong pin":
        plan = Plan(chain=(certificates.other.der,), key=certificates.other.key,
                    request_client_cert=True)
        words = ("wrong pin",)
    else:
        plan = well_behaved(certificates, request_client_cert=True, version=TLS10)
        words = ("TLS 1.2",)
    outcome, sessions = attempt(hostile, tls_client, plan, pin_mode(certificates.pinned))
    tls_error_without_client_certificate(outcome, sessions, *words)


def test_a_certificate_that_is_not_pinned_is_a_wrong_pin(hostile, tls_client, certificates):
    plan = Plan(chain=(certificates.other.der,), key=certificates.other.key)
    outcome, sessions = attempt(hostile, tls_client, plan, pin_mode(certificates.pinned))
    refused(outcome, sessions, "wrong pin")
