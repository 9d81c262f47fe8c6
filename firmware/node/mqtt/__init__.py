# The MQTT 3.1.1 client: packets (build, parse), link (the socket), client (the session; the
# node imports this one), robust (umqtt.robust's reconnect over it). Here only the errors they
# all raise, so that a program can catch them before it loads the client (the node dials and
# does the TLS handshake first: the client's code takes no RAM while the TLS library needs it).
from micropython import const

_EPROTO = const(71)
_E_REFUSED = const(41)
_E_REFUSED_OTHER = const(46)


def why(n, *args):
    """Text n of node.mqtt.errors, filled in with args."""
    from node.mqtt.errors import TEXT
    return TEXT[n] % args if args else TEXT[n]


class MQTTException(Exception):
    """umqtt's error type: the broker said no, or broke the protocol."""


class MQTTRefused(MQTTException):
    """The broker refused the connection: args = (CONNACK return code, what to do)."""

    def __init__(self, code):
        super().__init__(code, why(_E_REFUSED + code - 1) if 1 <= code <= 5
                         else why(_E_REFUSED_OTHER, code))
        self.code = code


class ProtocolError(OSError):
    """The broker broke MQTT 3.1.1 (a connection fault: errno EPROTO); the connection is closed.
    ProtocolError(n, *args): text n of node.mqtt.errors."""

    def __init__(self, n, *args):
        super().__init__(_EPROTO, "MQTT protocol error from the broker: " + why(n, *args))
