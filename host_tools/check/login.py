"""The MQTT side of `check`, through paho-mqtt: a login as the device (or back end), and a probe
of whether a port speaks plain MQTT.

A broker that binds client ids to logins (Mosquitto's use_username_as_clientid, as `broker
config` writes it) gives this login the device's own session, whatever client id it asks for.
So the login leaves that session as it found it: it asks for the persistent session (a clean
one would discard it, with the commands queued in it), subscribes to nothing, publishes
nothing, acknowledges nothing (what the broker hands it stays queued for the device), sends no
will, and when it found no session, removes the one it opened.
"""

import ssl
import time
from dataclasses import dataclass

import paho.mqtt.client as paho

from . import connect

# paho's reason for each CONNACK code of MQTT 3.1.1
_CODES = {"Success": 0, "Unsupported protocol version": 1, "Client identifier not valid": 2,
          "Server unavailable": 3, "Bad user name or password": 4, "Not authorized": 5}


@dataclass
class Login:
    code: int | None              # the CONNACK code; None: no CONNACK
    error: str | None = None      # why there was none
    session_present: bool = False
    session_removed: bool = False


class _Session:
    """One connection, run synchronously with paho's loop() until an event or a deadline."""

    def __init__(self, t, client_id, clean, tls_context, timeout, credentials=True):
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, manual_ack=True)
        if credentials and t.username is not None:
            self.client.username_pw_set(t.username, t.password)
        if tls_context is not None:
            self.client.tls_set_context(tls_context)
        self.client.connect_timeout = timeout
        self.t, self.timeout = t, timeout
        self.reason = self.flags = self.closed = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason, properties):
        self.reason, self.flags = reason, flags

    def _on_disconnect(self, client, userdata, flags, reason, properties):
        self.closed = str(reason)

    def _run_until(self, done):
        deadline = time.monotonic() + self.timeout
        while not done() and time.monotonic() < deadline:
            self.client.loop(timeout=0.05)      # calls on_connect / on_disconnect
        return done()

    def open(self) -> Login:
        try:
            self.client.connect(self.t.host, self.t.port, keepalive=max(5, int(self.timeout * 2)))
        except (OSError, ssl.SSLError) as exc:
            return Login(None, str(exc) or type(exc).__name__)
        if not self._run_until(lambda: self.reason is not None or self.closed is not None):
            return Login(None, f"no CONNACK within {self.timeout:g} s")
        if self.reason is None:
            return Login(None, self.closed)
        code = _CODES.get(str(self.reason), 255)
        return Login(code, session_present=bool(code == 0 and self.flags.session_present))

    def close(self):
        if self.closed is None:
            self.client.disconnect()
            self._run_until(lambda: self.closed is not None)
        sock = self.client.socket()
        if sock:
            sock.close()


def login(t, anchor_der, timeout) -> Login:
    """Log in as the target's user, over TLS trusting only the certificate the device's own
    handshake accepted (`anchor_der`), and leave its session as it was."""
    base = (t.client_id or t.username or "host-tools")[:40]
    tls = None
    if t.tls:
        tls = connect.context(t, verify=t.mode != "insecure",
                              anchor_der=anchor_der if t.mode != "insecure" else None)
    first = _Session(t, f"{base}-check", False, tls, timeout)
    result = first.open()
    first.close()
    if result.code == 0 and not result.session_present:
        again = _Session(t, f"{base}-check", True, tls, timeout)
        result.session_removed = again.open().code == 0
        again.close()
    return result


def plain_probe(t, timeout) -> bool:
    """Whether the port answers a plain MQTT CONNECT with a CONNACK (no credentials sent)."""
    probe = _Session(t, "host-tools-probe", True, None, timeout, credentials=False)
    result = probe.open()
    probe.close()
    return result.code is not None
