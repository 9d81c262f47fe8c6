"""Helpers of the hostile TLS server tests: an attempt of the node's client against the server,
and the assertions they share, told with what both sides did."""

from hostiletls import Plan
from hostiletls.client import PASSWORD, request

SECRET = PASSWORD.encode()


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
