"""What a server may not choose: TLS below 1.2, and renegotiation. Each refused on both
interpreters before any application data (CONNECT carries the password) leaves the node.

- TLS 1.0 and 1.1 chosen in the ServerHello, in every mode the library has (pin, insecure; ca
  and ca+pin on mbedtls): refused with a message naming TLS 1.2.
- A HelloRequest (the server asking to renegotiate) in clear before the server's Finished
  (its own record first, between ServerHello and Certificate, inside the flight's record, its
  own record after the flight, between the client's Finished and the server's), encrypted in
  the record of the server's Finished or in its own right after it, with the flight in a record
  per message or in one record: the connection ends before any application data.
- A HelloRequest in answer to CONNECT: no second handshake, nothing more from the node.
- The attack that shows why: TLS 1.0, a HelloRequest in the Finished record, and a second
  handshake to a certificate that is not pinned."""

import pytest

from hostiletls import HELLO_REQUEST_PLACES
from hostiletls.wire import TLS10, TLS11

from rig import (SECRET, attempt, no_application_data, pin_mode, refused, story,
                 well_behaved)

BEFORE_CONNECT = [p for p in HELLO_REQUEST_PLACES if p != "encrypted, after CONNECT"]
MODES = {
    "pin": lambda c: pin_mode(c.pinned),
    "ca": lambda c: {"mode": "ca", "ca": "ca.der"},
    "ca+pin": lambda c: {"mode": "ca+pin", "ca": "ca.der", "pins": [c.pinned.pin]},
    "insecure": lambda c: {"mode": "insecure"},
}


def renegotiating(certificates, **kw):
    """A server that completes a second handshake, if the node starts one, with a certificate
    the node does not pin."""
    return well_behaved(certificates, renegotiation_chain=(certificates.other.der,),
                        renegotiation_key=certificates.other.key, **kw)


@pytest.mark.parametrize("version", [TLS10, TLS11], ids=["TLS 1.0", "TLS 1.1"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_server_choosing_tls_below_1_2_is_refused(version, mode, interpreter, hostile,
                                                    tls_client, certificates):
    if mode.startswith("ca") and interpreter.library == "axtls":
        pytest.skip("axTLS cannot verify a chain: no CA mode on the ESP8266")
    outcome, sessions = attempt(hostile, tls_client, well_behaved(certificates, version=version),
                                MODES[mode](certificates))
    refused(outcome, sessions, "TLS 1.2")


@pytest.mark.parametrize("layout", ["record per message", "one record"])
@pytest.mark.parametrize("place", BEFORE_CONNECT)
def test_a_hello_request_ends_the_connection_before_any_application_data(
        place, layout, hostile, tls_client, certificates):
    # axTLS: the guard reads the record. mbedtls reads an encrypted HelloRequest itself: the
    # node's stream, sealed after the handshake, refuses its record, or the no_renegotiation
    # alert mbedtls answers one with that came inside the server's Finished record.
    outcome, sessions = attempt(hostile, tls_client,
                                renegotiating(certificates, hello_request=place, layout=layout),
                                pin_mode(certificates.pinned))
    assert any(s.first("hello request sent") for s in sessions), story(outcome, sessions)
    refused(outcome, sessions, "renegotiat")
    assert not any(s.first("renegotiation client hello") for s in sessions), \
        story(outcome, sessions)


def test_a_hello_request_in_answer_to_connect_gets_no_second_handshake(
        hostile, tls_client, certificates):
    outcome, sessions = attempt(hostile, tls_client,
                                renegotiating(certificates, hello_request="encrypted, after CONNECT"),
                                pin_mode(certificates.pinned))
    told = story(outcome, sessions)
    assert outcome.kind not in ("connected", "crashed", "hung"), told
    for s in sessions:
        assert not s.first("renegotiation client hello"), told
        assert not s.application_data(after="hello request sent"), told


def test_tls_1_0_with_a_hello_request_in_the_finished_record_gets_no_password(
        hostile, tls_client, certificates):
    outcome, sessions = attempt(hostile, tls_client,
                                renegotiating(certificates, version=TLS10,
                                              hello_request="encrypted, with Finished"),
                                pin_mode(certificates.pinned))
    assert outcome.kind == "TLSError", story(outcome, sessions)
    assert not any(s.carried(SECRET) for s in sessions), story(outcome, sessions)
    assert no_application_data(sessions), story(outcome, sessions)
