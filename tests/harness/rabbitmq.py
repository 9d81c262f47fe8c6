"""pytest plugin: a real RabbitMQ with its MQTT plugin on loopback ports, over TLS, with the
files `broker config --kind rabbitmq` writes (host_tools/broker/rabbitmq.py).

Fixtures:
  rabbitmq_server  (session) one node, started once (it boots in about 12 s) and stopped after
                   the run; users "node-1" and "node-2" (devices) and "monitor" (a back end)
  rabbitmq         that node, its sessions and retained messages of earlier tests removed
  each_broker      parametrized: a Mosquitto (harness.broker) with the same users, then that
                   RabbitMQ, for the tests that must hold on both

A missing RabbitMQ fails the run with what to install. When a test fails, the node's log is
attached to the report.
"""

import json
import secrets
import socket
import ssl
import time

import paho.mqtt.client as paho
import pytest

from host_tools.broker import rabbitmq as files
from host_tools.broker.process import free_port
from host_tools.broker.rabbitnode import Home, RabbitNode, find_rabbitmq
from host_tools.errors import UserError

DEVICES = ("node-1", "node-2")
MONITORS = ("monitor",)
# Client ids whose persistent sessions the tests open: removed before each test.
SESSIONS = ("node-1", "node-2", "test-monitor", "monitor", "test-monitor-second")


class RabbitBroker:
    """What the tests use of a broker (as host_tools.localbroker.LocalBroker has it)."""

    kind = "rabbitmq"

    def __init__(self, workdir, pki, devices=DEVICES, monitors=MONITORS, nodes=1):
        self.host, self.pki, self.workdir = "127.0.0.1", pki, workdir
        self.devices = list(devices)
        self.users = {name: secrets.token_urlsafe(16) for name in list(devices) + list(monitors)}
        self.home = Home(workdir / "home")
        self.nodes = []
        self.ports = []
        hashes = {name: files.hash_password(pw) for name, pw in self.users.items()}
        defs = workdir / "definitions.json"
        defs.write_text(json.dumps(files.definitions(devices, monitors, hashes), indent=1))
        defs.chmod(0o600)
        plugins = workdir / "enabled_plugins"
        plugins.write_text(files.ENABLED_PLUGINS)
        for i in range(nodes):
            port = free_port()
            conf = workdir / f"rabbit{i + 1}.conf"
            conf.write_text(files.conf(tls_port=port, bind="127.0.0.1", cafile=pki.ca_cert.resolve(),
                                       certfile=pki.broker_cert.resolve(),
                                       keyfile=pki.broker_key.resolve(), definitions_file=defs))
            self.nodes.append(RabbitNode(self.home, workdir / f"rabbit{i + 1}", f"rabbit{i + 1}",
                                         conf, plugins))
            self.ports.append(port)
        self.tls_port = self.ports[0]
        self.plain_port = None

    @property
    def ca_der(self):
        return self.pki.ca_der

    @property
    def ca_pem(self):
        return self.pki.ca_cert

    def log_text(self):
        return "\n".join(n.log_text() for n in self.nodes)

    def start_all(self):
        """Start the nodes one after another; the later ones join the first's cluster. When
        one does not start, every node is stopped again."""
        try:
            for i, node in enumerate(self.nodes):
                node.start()
                if i:
                    node.ctl("stop_app")
                    node.ctl("join_cluster", self.nodes[0].name)
                    node.ctl("start_app")
                wait_port(self.ports[i])
        except UserError:
            self.shutdown()
            raise
        return self

    # As a single broker: stopped and started like a Mosquitto (the MQTT listener goes).
    def stop(self):
        self.nodes[0].ctl("stop_app")

    def start(self):
        self.nodes[0].ctl("start_app")
        wait_port(self.tls_port)

    def shutdown(self):
        for node in reversed(self.nodes):
            try:
                node.stop()
            except UserError:
                node.kill()
        self.home.stop()

    def reset(self, sessions=SESSIONS):
        """Remove the sessions (their queues) and the devices' retained status of earlier tests:
        each client id logs in with a clean session; each device clears its retained status."""
        for cid in sessions:
            user = cid if cid in self.devices else MONITORS[0]
            clear = f"nodes/{cid}/status" if cid in self.devices else None
            mqtt_session(self, user, cid, clean=True, clear_retained=clear)


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise UserError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")
            time.sleep(0.1)


def mqtt_session(broker, user, client_id, clean, clear_retained=None, port=None, timeout=10.0,
                 subscribe=None):
    """Log in once (paho, TLS) and leave; with clear_retained, clear that topic's retained
    message first; with subscribe, subscribe (QoS 1) before leaving. Raises UserError when the
    broker does not answer CONNECT."""
    done = {}
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    c.username_pw_set(user, broker.users[user])
    c.tls_set(ca_certs=str(broker.ca_pem), cert_reqs=ssl.CERT_REQUIRED)
    c.on_connect = lambda cl, u, f, rc, p: done.setdefault("connack", str(rc))
    c.connect(broker.host, port or broker.tls_port, keepalive=30)
    deadline = time.monotonic() + timeout
    while "connack" not in done and time.monotonic() < deadline:
        c.loop(0.05)
    if done.get("connack") != "Success":
        raise UserError(f"{user} ({client_id}) could not log in: {done.get('connack', 'no CONNACK')}")
    if clear_retained:
        info = c.publish(clear_retained, b"", qos=1, retain=True)
        while not info.is_published() and time.monotonic() < deadline:
            c.loop(0.05)
    if subscribe:
        c.on_subscribe = lambda *a: done.setdefault("suback", True)
        c.subscribe(subscribe, 1)
        while "suback" not in done and time.monotonic() < deadline:
            c.loop(0.05)
    c.disconnect()
    c.loop(0.1)


def start_rabbitmq(workdir, pki, nodes=1) -> RabbitBroker:
    """Started, or the test fails with what is missing (RabbitMQ not installed: what to do)."""
    try:
        find_rabbitmq()
        return RabbitBroker(workdir, pki, nodes=nodes).start_all()
    except UserError as exc:
        pytest.fail(f"{exc}; the integration tests need it", pytrace=False)


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory, test_pki):
    broker = start_rabbitmq(tmp_path_factory.mktemp("rabbitmq"), test_pki)
    yield broker
    broker.shutdown()


@pytest.fixture
def rabbitmq(request, rabbitmq_server):
    rabbitmq_server.reset()
    request.node._rabbit = rabbitmq_server
    yield rabbitmq_server
    # A test that stopped the listener leaves it running for the next.
    try:
        wait_port(rabbitmq_server.tls_port, timeout=0.5)
    except UserError:
        rabbitmq_server.start()


@pytest.fixture(params=["mosquitto", "rabbitmq"])
def each_broker(request):
    if request.param == "rabbitmq":
        return request.getfixturevalue("rabbitmq")
    return request.getfixturevalue("broker_factory")(devices=DEVICES, monitors=MONITORS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    rabbit = getattr(item, "_rabbit", None)
    if report.failed and rabbit is not None:
        report.sections.append((f"rabbitmq log ({report.when})", rabbit.log_text()[-8000:]))
