"""The Mosquitto fixture: a real broker, its files, and its errors."""

import socket
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from host_tools import broker as mosq
from host_tools.errors import UserError
from host_tools.monitor import Monitor

pytest_plugins = ["pytester"]
TESTS = Path(__file__).resolve().parents[1]


def connack(b, user, password, port=None, tls=True, timeout=10):
    """The broker's answer to a CONNECT from paho: its reason string."""
    answered = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, reason, props):
        result["reason"] = str(reason)
        answered.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"probe-{user}")
    client.username_pw_set(user, password)
    if tls:
        client.tls_set(ca_certs=str(b.ca_pem))
    client.on_connect = on_connect
    client.connect(b.host, port or b.tls_port, keepalive=10)
    client.loop_start()
    try:
        assert answered.wait(timeout), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result["reason"]


def test_password_hash_is_mosquitto_format():
    h = mosq.hash_password("secret", salt=bytes.fromhex("05535418 09a7361e 01df9c75".replace(" ", "")))
    # The same password and salt as `mosquitto_passwd -b` produced.
    assert h == ("$7$101$BVNUGAmnNh4B35x1$LEBNqECgRscotd/JxQSVuC5AZsiobhcYk79n+aEH0FmLJh7Y"
                 "d1Ignq415IXoB6agEdiLnZPHEFdb9JGAiR/BGA==")


def test_bad_user_names_are_refused():
    for name in ["", "a:b", "a b", "a/b", "#"]:
        with pytest.raises(UserError):
            mosq.check_username(name)


# Mosquitto 2 answers a wrong MQTT 3.1.1 password with return code 5, "not authorized" (not 4).
REFUSED = "Not authorized"


def test_broker_accepts_right_password_and_refuses_wrong(broker):
    assert connack(broker, "node-1", broker.users["node-1"]) == "Success"
    assert connack(broker, "node-1", "wrong") == REFUSED
    assert connack(broker, "nobody", "x") == REFUSED


def test_plain_listener_is_loopback_and_also_authenticated(broker):
    assert broker.plain_port
    assert connack(broker, "monitor", broker.users["monitor"], port=broker.plain_port, tls=False) == "Success"
    assert connack(broker, "monitor", "nope", port=broker.plain_port, tls=False) == REFUSED


def test_anonymous_is_refused(broker):
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="anon")
    answered = threading.Event()
    result = {}
    client.on_connect = lambda c, u, f, rc, p: (result.setdefault("rc", str(rc)), answered.set())
    client.connect(broker.host, broker.plain_port, keepalive=10)
    client.loop_start()
    try:
        assert answered.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    assert result["rc"] == "Not authorized"


def test_tls_listener_speaks_tls_with_the_generated_ca(broker):
    ctx = ssl.create_default_context(cafile=str(broker.ca_pem))
    with socket.create_connection((broker.host, broker.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def publish_as(b, user, messages):
    """Publish (topic, payload) pairs with QoS 1 over one connection, each acknowledged."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, b.users[user])
    client.tls_set(ca_certs=str(b.ca_pem))
    client.connect(b.host, b.tls_port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_acl_keeps_devices_to_their_own_topics(broker_factory):
    b = broker_factory(devices=("node-1", "node-2"))
    with Monitor(b.host, b.tls_port, b.ca_pem, "monitor", b.users["monitor"]) as mon:
        publish_as(b, "node-1", [("nodes/node-1/readings", b"own")])
        # The broker drops node-2's write into node-1's space without telling it (MQTT 3.1.1);
        # the marker, sent after it on the same connection, proves it was not delivered.
        publish_as(b, "node-2", [("nodes/node-1/readings", b"intruder"),
                                 ("nodes/node-2/readings", b"marker")])
        assert mon.wait_for(lambda ms: any(m.payload == b"marker" for m in ms), 10)
    payloads = [m.payload for m in mon.messages if m.topic == "nodes/node-1/readings"]
    assert payloads == [b"own"]


def test_restart_keeps_ports(broker):
    port = broker.tls_port
    broker.restart()
    assert connack(broker, "node-1", broker.users["node-1"], port=port) == "Success"


def test_missing_mosquitto_gives_one_clear_error(pytester, monkeypatch):
    pytester.makepyfile(test_needs_broker="""
        def test_a(broker):
            pass
    """)
    monkeypatch.setenv("MOSQUITTO", "/nonexistent/mosquitto")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = pytester.runpytest_subprocess("-p", "harness.broker", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*MOSQUITTO=/nonexistent/mosquitto is not an executable*apt-get install mosquitto*"])


def test_failing_test_shows_the_broker_log(pytester, monkeypatch):
    pytester.makepyfile(test_fails="""
        def test_a(broker):
            assert False, "deliberate"
    """)
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = pytester.runpytest_subprocess("-p", "harness.broker", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*mosquitto log (broker 0, call)*", "*mosquitto version * running*"])


def test_bad_config_makes_start_fail_with_the_log(broker_factory):
    with pytest.raises(pytest.fail.Exception, match="Error"):
        broker_factory(extra=["this_is_not_an_option 1"])
