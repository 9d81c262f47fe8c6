"""A device's login acts only as itself on RabbitMQ too: node-2's real credentials against the
permissions `broker config --kind rabbitmq` writes (users, queue and topic permissions from
the ACL's tables), trying every way into node-1's topics and session.

RabbitMQ closes the connection on a PUBLISH or SUBSCRIBE its permissions refuse (Mosquitto
acknowledges and drops it), so each attempt here has a connection of its own, and the proof is
what the back end and node-1 never receive, after a marker that was sent later."""

import pytest

from host_site import Client
from host_tools.broker import acl


@pytest.fixture
def login(rabbitmq):
    made = []

    def connect(user, *topics, client_id=None, clean=True, will=None):
        c = Client(rabbitmq.tls_port, rabbitmq.ca_pem, user, rabbitmq.users[user],
                   client_id=client_id or user, clean=clean, will=will)
        made.append(c)
        assert c.connect() == "Success"
        if topics:
            c.subscribe(*topics)
        return c

    connect.rabbitmq = rabbitmq
    yield connect
    for c in made:
        c.close()


def _refused(c, publish=None, subscribe=None):
    """Publish to or subscribe to a topic; True when RabbitMQ closed the connection on it."""
    if publish:
        c.c.publish(publish, b"from another login", qos=1)
    else:
        c.c.subscribe(subscribe, 1)
    return c.closed.wait(5)


def concrete(topic, device):
    return topic.format(id=device).replace("#", "temp_c/config")


def test_a_device_writes_only_its_own_topics(login):
    backend = login("monitor", "nodes/#", "homeassistant/#", client_id="test-monitor")
    one = login("node-1", "nodes/node-1/cmd/#", client_id="node-1")
    for _, topic in acl.DEVICE_TOPICS:
        two = login("node-2")
        target = concrete(topic, "node-1")
        assert _refused(two, publish=target), target
    two = login("node-2")
    writes = [t for a, t in acl.DEVICE_TOPICS if a == "write"]
    for topic in writes:
        two.publish(concrete(topic, "node-2"), b"own")
    assert backend.wait_for(lambda ms: len(ms) >= len(writes))
    assert sorted(m.topic for m in backend.messages) == sorted(
        concrete(t, "node-2") for t in writes)
    assert "homeassistant/sensor/node-2/temp_c/config" in [m.topic for m in backend.messages]
    assert b"from another login" not in backend.payloads() and one.payloads() == []


def test_a_device_cannot_plant_or_erase_another_devices_discovery_configs(login):
    # Each of node-1's own configs is there first (an earlier wake on this broker may have left
    # one), so that what a forger changed would show.
    one = login("node-1")
    one.publish("homeassistant/sensor/node-1/temp_c/config", b'{"name": "own"}', retain=True)
    one.publish("homeassistant/sensor/node-1/rh/config", b'{"name": "own rh"}', retain=True)
    for target, payload in (("homeassistant/sensor/node-1/temp_c/config", b""),       # erase
                            ("homeassistant/sensor/node-1/rh/config", b'{"name": "forged"}'),
                            ("homeassistant/sensor/node-1/x", b"forged"),
                            ("homeassistant/sensor/node-1/rh/y/config", b"forged")):
        two = login("node-2")
        two.c.publish(target, payload, qos=1, retain=True)
        assert two.closed.wait(5), target
    login("node-2").publish("homeassistant/sensor/node-2/rh/config", b'{"name": "own 2"}',
                            retain=True)
    # RabbitMQ hands retained messages only to a subscription to that exact topic.
    for topic, payload in (("homeassistant/sensor/node-1/temp_c/config", b'{"name": "own"}'),
                           ("homeassistant/sensor/node-1/rh/config", b'{"name": "own rh"}'),
                           ("homeassistant/sensor/node-2/rh/config", b'{"name": "own 2"}')):
        reader = login("monitor", topic, client_id="test-monitor")
        assert reader.wait_for(lambda ms: len(ms) >= 1), topic
        assert [(m.payload, m.retain) for m in reader.messages] == [(payload, True)]
        reader.close()
    # Each device removes its own, for the tests after.
    one = login("node-1")
    one.publish("homeassistant/sensor/node-1/temp_c/config", b"", retain=True)
    one.publish("homeassistant/sensor/node-1/rh/config", b"", retain=True)
    login("node-2").publish("homeassistant/sensor/node-2/rh/config", b"", retain=True)


def test_a_device_cannot_write_its_own_commands(login):
    one = login("node-1", "nodes/node-1/cmd/#")
    planter = login("node-1", client_id="node-1-planter")
    assert _refused(planter, publish="nodes/node-1/cmd/reboot")
    login("monitor", client_id="test-monitor").publish("nodes/node-1/cmd/sync", b"from the back end")
    assert one.wait_for(lambda ms: len(ms) >= 1)
    assert one.payloads() == [b"from the back end"]


def test_a_device_reads_only_its_own_commands(login):
    for topic in ("nodes/node-1/#", "nodes/+/cmd/#", "#", "nodes/node-1/cmd/reboot"):
        two = login("node-2")
        assert _refused(two, subscribe=topic), topic
    two = login("node-2", "nodes/node-2/cmd/#")
    one = login("node-1", "nodes/node-1/cmd/#")
    backend = login("monitor", client_id="test-monitor")
    backend.publish("nodes/node-1/cmd/reboot", b"for node-1")
    backend.publish("nodes/node-2/cmd/sync", b"for node-2")
    assert two.wait_for(lambda ms: len(ms) >= 1) and two.payloads() == [b"for node-2"]
    assert one.wait_for(lambda ms: len(ms) >= 1) and one.payloads() == [b"for node-1"]


def test_a_will_goes_only_to_the_devices_own_status(login):
    backend = login("monitor", "nodes/#", client_id="test-monitor")
    for topic in ("nodes/node-1/status", "nodes/node-1/cmd/reboot"):
        forged = Client(login.rabbitmq.tls_port, login.rabbitmq.ca_pem, "node-2",
                        login.rabbitmq.users["node-2"], client_id="node-2", will=(topic, b"forged will"))
        assert forged.connect() == "Success"    # RabbitMQ checks a will when it publishes it
        forged.drop()
    honest = login("node-2", will=("nodes/node-2/status", b"node-2 gone"))
    honest.drop()
    assert backend.wait_for(lambda ms: any(m.payload == b"node-2 gone" for m in ms))
    assert [(m.topic, m.payload) for m in backend.messages] == [("nodes/node-2/status", b"node-2 gone")]


def test_another_devices_login_cannot_reach_its_session(login):
    # node-1 has a persistent session with its command subscription, and sleeps.
    login("node-1", "nodes/node-1/cmd/#", client_id="node-1", clean=False).close()
    login("monitor", client_id="test-monitor").publish("nodes/node-1/cmd/reboot", b"queued for node-1")
    # node-2 logs in with node-1's client id: its permissions do not cover node-1's session
    # queue, so RabbitMQ does not hand it over.
    intruder = Client(login.rabbitmq.tls_port, login.rabbitmq.ca_pem, "node-2",
                      login.rabbitmq.users["node-2"], client_id="node-1", clean=False)
    assert intruder.connect() == "Server unavailable"
    assert intruder.closed.wait(5) and intruder.payloads() == []
    intruder.close()
    one = login("node-1", client_id="node-1", clean=False)
    assert one.wait_for(lambda ms: len(ms) >= 1) and one.payloads() == [b"queued for node-1"]


def test_another_devices_login_with_its_client_id_ends_its_connection_and_gets_nothing(login):
    # RabbitMQ binds no client id to a login (Mosquitto does, use_username_as_clientid): node-2
    # asking for node-1's id ends node-1's connection. The login itself is refused (a clean
    # session would remove node-1's session queue, which node-2's permissions do not cover),
    # and node-1's session keeps what is queued for it until it reconnects.
    one = login("node-1", "nodes/node-1/cmd/#", client_id="node-1", clean=False)
    r = login.rabbitmq
    intruder = Client(r.tls_port, r.ca_pem, "node-2", r.users["node-2"], client_id="node-1")
    assert intruder.connect() == "Server unavailable"
    intruder.close()
    assert one.closed.wait(5), "RabbitMQ ended node-1's connection"
    login("monitor", client_id="test-monitor").publish("nodes/node-1/cmd/reboot", b"for node-1")
    one = login("node-1", client_id="node-1", clean=False)
    assert one.wait_for(lambda ms: len(ms) >= 1) and one.payloads() == [b"for node-1"]
    assert intruder.payloads() == []
