"""A server cannot hold the node inside the TLS handshake: one that sends its handshake one
byte per second is cut at the handshake deadline (tls.handshake_s, default 15 s) with
ETIMEDOUT, on both interpreters, and one that sends a 4 MB handshake message is refused on
its size as soon as its header is in (its records small enough for the ESP8266's axTLS to
take, so that the size of the message is what is refused)."""

import pytest

from hostiletls.wire import CERTIFICATE, handshake, u24, vec24

from rig import attempt, no_application_data, pin_mode, refused, story, well_behaved

ETIMEDOUT = 110
LATE = 3.0              # seconds past the deadline a cut may come (a read's own wait, a loaded CI)
FOUR_MB = 4 << 20
SMALL_RECORDS = 1024    # records an ESP8266 takes (axTLS refuses larger ones itself)


@pytest.mark.parametrize("handshake_s", [4, None], ids=["handshake_s 4", "default 15 s"])
def test_a_server_sending_one_byte_a_second_is_cut_at_the_handshake_deadline(
        handshake_s, hostile, tls_client, certificates):
    deadline = handshake_s or 15
    tls = pin_mode(certificates.pinned)
    if handshake_s is not None:
        tls["handshake_s"] = handshake_s
    outcome, sessions = attempt(hostile, tls_client, well_behaved(certificates, delivery="trickle"),
                                tls, bound=deadline + LATE + 10, settle=LATE)
    told = story(outcome, sessions)
    assert outcome.kind == "OSError" and outcome.errno == ETIMEDOUT, told
    assert "handshake" in outcome.message, told
    assert deadline - 0.5 <= outcome.seconds <= deadline + LATE, told
    # The node closed its end: the server saw the connection end, at the deadline.
    closed = [s.first("closed") for s in sessions]
    assert closed and all(c is not None and c.at <= deadline + LATE for c in closed), told
    assert no_application_data(sessions), told


def test_a_4_mb_handshake_message_is_refused_on_its_size(hostile, tls_client, certificates):
    leaf = certificates.pinned.der
    filler = FOUR_MB - 4 - 3 - (3 + len(leaf)) - 3
    body = vec24(vec24(leaf) + u24(filler) + bytes(filler))
    message = handshake(CERTIFICATE, body)
    assert len(message) == FOUR_MB
    plan = well_behaved(certificates, certificate=message, record_size=SMALL_RECORDS)
    outcome, sessions = attempt(hostile, tls_client, plan, pin_mode(certificates.pinned), bound=30)
    refused(outcome, sessions, "handshake message of")
    assert outcome.seconds < 10, story(outcome, sessions)
