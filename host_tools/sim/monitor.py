"""A host-side MQTT subscriber over TLS that collects what the broker delivers."""

import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as paho

from ..errors import UserError


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool


class Monitor:
    """Subscribe to `topics` and keep every message; wait_for() blocks on a condition.

    On a broker that binds client ids to logins (as `broker config` writes it) the client id is
    the user name whatever `client_id` says: one connection per login at a time, so each back
    end has a login of its own (`broker user NAME`)."""

    def __init__(self, host, port, ca_file, username, password, topics=("nodes/#",),
                 client_id=None, qos=1, clean_session=True, echo=None, client=None):
        """client: a paho client made already (host_tools.backend.login.client), instead of
        one made here from ca_file, username and password."""
        self.messages = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._connect_error = None
        self._topics = list(topics)
        self._qos = qos
        self._echo = echo           # called with each Message as it arrives
        # With clean_session=False (and a client_id) the broker keeps what arrives while the
        # monitor is cut off, e.g. across a broker restart, and paho reconnects within 1 s.
        if client is None:
            client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                 clean_session=clean_session)
            client.username_pw_set(username, password)
            client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client = client
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.host, self.port = host, port

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            self._subscribed.set()
            return
        client.subscribe([(t, self._qos) for t in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._subscribed.clear()

    def wait_ready(self, timeout=10.0):
        """True once the monitor is connected and subscribed (again, after a broker restart)."""
        return self._subscribed.wait(timeout)

    def _on_message(self, client, userdata, msg):
        m = Message(msg.topic, msg.payload, msg.qos, msg.retain, bool(msg.dup))
        if self._echo:
            self._echo(m)
        with self._cond:
            self.messages.append(m)
            self._cond.notify_all()

    def start(self, timeout=10.0):
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            raise UserError(f"monitor could not connect to {self.host}:{self.port}: {exc}") from None
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise UserError(f"monitor: no SUBACK from {self.host}:{self.port} within {timeout:g} s")
        if self._connect_error:
            self.stop()
            raise UserError(f"monitor: broker refused the connection: {self._connect_error}")
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for(self, predicate, timeout=10.0):
        """Wait until predicate(messages) is true; returns whether it became true in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_count(self, n, timeout=10.0, topic_prefix=""):
        return self.wait_for(
            lambda msgs: sum(1 for m in msgs if m.topic.startswith(topic_prefix)) >= n, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
