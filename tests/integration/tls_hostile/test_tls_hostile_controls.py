"""Controls for the hostile TLS server tests: a server that behaves, with the pinned
certificate, gets the node's CONNECT on both interpreters however its records are framed and
delivered (one record per message or the whole flight in one record; all at once or one byte
per TCP segment), in pin mode (certificate or public key pin) and, on mbedtls, in CA mode. A
refusal in the other tests is then the node's doing, not the server's."""

import pytest

from rig import attempt, connected, pin_mode, well_behaved


@pytest.mark.parametrize("layout", ["record per message", "one record"])
@pytest.mark.parametrize("delivery", ["whole", "byte by byte"])
def test_a_well_behaved_server_with_the_pinned_certificate_gets_connect(
        layout, delivery, hostile, tls_client, certificates):
    outcome, sessions = attempt(hostile, tls_client,
                                well_behaved(certificates, layout=layout, delivery=delivery),
                                pin_mode(certificates.pinned))
    connected(outcome, sessions)


def test_the_public_key_pin_form_connects(hostile, tls_client, certificates):
    tls = {"mode": "pin", "pins": [certificates.pinned.key_pin]}
    connected(*attempt(hostile, tls_client, well_behaved(certificates), tls))


@pytest.mark.parametrize("interpreter", ["unix"], indirect=True)
def test_ca_mode_connects_on_mbedtls(hostile, tls_client, certificates):
    connected(*attempt(hostile, tls_client, well_behaved(certificates),
                       {"mode": "ca", "ca": "ca.der"}))
