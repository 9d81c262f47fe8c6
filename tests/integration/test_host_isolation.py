"""A device's login can act only as itself: node-b's real credentials against the broker config
`broker config` wrote, trying every way into node-a's topics and session (publish, subscribe,
retained, will, client id takeover)."""

import pytest

from host_site import Site
from host_tools.broker import acl

pytestmark = pytest.mark.broker


@pytest.fixture
def site(tmp_path, mosquitto_exe):
    s = Site(tmp_path)
    s.setup(devices=("node-a", "node-b"), monitors=("monitor",))
    s.start_broker()
    clients = []

    def client(login, **kw):
        c = s.client(login, **kw)
        clients.append(c)
        return c

    s.make_client = client
    yield s
    for c in clients:
        c.close()
    s.stop()


def connected(site, login, *topics, **kw):
    c = site.make_client(login, client_id=kw.pop("client_id", login), **kw)
    assert c.connect() == "Success"
    if topics:
        c.subscribe(*topics)
    return c


def concrete(topic, device):
    return topic.format(id=device).replace("#", "temp_c/config")


def test_a_device_writes_only_its_own_topics(site):
    backend = connected(site, "monitor", "nodes/#", "homeassistant/#")
    a = connected(site, "node-a", "nodes/node-a/cmd/#")
    b = connected(site, "node-b")
    # Every topic node-a may write (its discovery configs too), and node-a's commands, written
    # by node-b: MQTT 3.1.1 acks each, the broker drops each.
    for _, topic in acl.DEVICE_TOPICS:
        b.publish(concrete(topic, "node-a"), b"from node-b")
    # What node-b may write reaches the back end: these come after, on the same connection.
    writes = [t for access, t in acl.DEVICE_TOPICS if access == "write"]
    for topic in writes:
        b.publish(concrete(topic, "node-b"), b"own")
    assert backend.wait_for(lambda ms: len(ms) == len(writes))
    assert sorted(m.topic for m in backend.messages) == sorted(concrete(t, "node-b") for t in writes)
    assert "homeassistant/sensor/node-b/temp_c/config" in [m.topic for m in backend.messages]
    assert b"from node-b" not in backend.payloads() and a.payloads() == []


def test_a_device_cannot_plant_or_erase_another_devices_discovery_configs(site):
    a = connected(site, "node-a")
    a.publish("homeassistant/sensor/node-a/temp_c/config", b'{"name": "node-a own"}', retain=True)
    b = connected(site, "node-b")
    b.publish("homeassistant/sensor/node-a/temp_c/config", b"", retain=True)      # erase
    b.publish("homeassistant/sensor/node-a/rh/config", b'{"name": "forged"}', retain=True)
    b.publish("homeassistant/sensor/node-b/rh/config", b'{"name": "node-b own"}', retain=True)
    # Home Assistant's login (a back end) reads the retained configs as they are now; its own
    # birth message comes after them, on the same connection.
    reader = connected(site, "monitor", "homeassistant/#")
    reader.publish("homeassistant/status", b"online")
    assert reader.wait_for(lambda ms: ms and ms[-1].topic == "homeassistant/status")
    assert sorted((m.topic, m.payload, m.retain) for m in reader.messages[:-1]) == [
        ("homeassistant/sensor/node-a/temp_c/config", b'{"name": "node-a own"}', True),
        ("homeassistant/sensor/node-b/rh/config", b'{"name": "node-b own"}', True)]


def test_a_device_cannot_write_its_own_commands(site):
    a = connected(site, "node-a", "nodes/node-a/cmd/#")
    a.publish("nodes/node-a/cmd/reboot", b"planted")
    backend = connected(site, "monitor")
    backend.publish("nodes/node-a/cmd/sync", b"from the back end")
    assert a.wait_for(lambda ms: len(ms) >= 1)
    assert a.payloads() == [b"from the back end"]


def test_a_device_reads_only_its_own_commands(site):
    b = connected(site, "node-b", "nodes/node-a/#", "nodes/+/cmd/#", "#")
    a = connected(site, "node-a", "nodes/node-a/cmd/#")
    backend = connected(site, "monitor")
    backend.publish("nodes/node-a/cmd/reboot", b"for node-a")
    a.publish("nodes/node-a/readings", b"node-a's reading")
    backend.publish("nodes/node-b/cmd/sync", b"for node-b")         # the marker, sent last
    assert b.wait_for(lambda ms: len(ms) >= 1)
    assert b.payloads() == [b"for node-b"]
    assert a.wait_for(lambda ms: len(ms) >= 1) and a.payloads() == [b"for node-a"]


def test_no_retained_message_planted_in_command_topics(site):
    b = connected(site, "node-b")
    for device in ("node-a", "node-b"):
        b.publish(f"nodes/{device}/cmd/reboot", b"poison", retain=True)
    a = connected(site, "node-a")
    a.publish("nodes/node-a/cmd/reboot", b"poison", retain=True)
    a.publish("nodes/node-a/status", b"online", retain=True)           # its own: kept
    # A new subscriber gets the retained messages of the topics: only node-a's status.
    reader = connected(site, "monitor", "nodes/#")
    assert reader.wait_for(lambda ms: len(ms) >= 1)
    assert [(m.topic, m.payload, m.retain) for m in reader.messages] == [
        ("nodes/node-a/status", b"online", True)]
    for device in ("node-a", "node-b"):
        fresh = connected(site, device, f"nodes/{device}/cmd/#")
        assert not fresh.wait_for(lambda ms: ms, timeout=0.5), fresh.payloads()
        fresh.close()


def test_a_will_goes_only_to_the_devices_own_status(site):
    backend = connected(site, "monitor", "nodes/#")
    for topic in ("nodes/node-a/status", "nodes/node-a/cmd/reboot"):
        b = connected(site, "node-b", will=(topic, b"forged will"))
        b.drop()
    # The control: node-b's will on its own status does go out.
    b = connected(site, "node-b", will=("nodes/node-b/status", b"node-b gone"))
    b.drop()
    assert backend.wait_for(lambda ms: any(m.payload == b"node-b gone" for m in ms))
    assert [(m.topic, m.payload) for m in backend.messages] == [("nodes/node-b/status", b"node-b gone")]


def test_another_devices_login_cannot_take_its_client_id(site):
    # node-a has a persistent session with its command subscription, and sleeps.
    a = connected(site, "node-a", "nodes/node-a/cmd/#", clean=False)
    a.close()
    backend = connected(site, "monitor")
    backend.publish("nodes/node-a/cmd/reboot", b"queued for node-a")
    # node-b logs in as client "node-a" with a clean session: it gets its own id instead.
    intruder = connected(site, "node-b", client_id="node-a", clean=True)
    assert intruder.session_present is False
    assert "as node-b (" in site.log() and "as node-a (p2, c1" not in site.log()
    intruder.close()
    # node-a wakes: its session and the command queued in it are still there.
    a = connected(site, "node-a", clean=False)
    assert a.session_present is True
    assert a.wait_for(lambda ms: len(ms) >= 1) and a.payloads() == [b"queued for node-a"]
    # And while node-a is connected, node-b asking for its id does not end its connection.
    intruder = connected(site, "node-b", client_id="node-a")
    backend.publish("nodes/node-a/cmd/sync", b"still there")
    assert a.wait_for(lambda ms: len(ms) >= 2) and not a.closed.is_set()
