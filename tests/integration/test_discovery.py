"""Home Assistant MQTT discovery from the firmware on the unix board against a real Mosquitto:
one retained config per field, checked against Home Assistant's documented schema
(hadiscovery.py), published once and again only when what it says changes, removed for a field
that goes away and when discovery is switched off."""

import json

import pytest

from hadiscovery import availability, expand, problems, template_value
from host_tools.monitor import Monitor

pytestmark = pytest.mark.broker

DEVICE = "node-1"
CONFIGS = "homeassistant/sensor/node-1/"


def watcher(broker, topics=("homeassistant/#",)):
    """A subscriber from now on: what it gets is what the node publishes (live, not retained)."""
    return Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor", broker.users["monitor"],
                   topics=topics).start()


def retained(broker):
    """{topic: payload} of the retained discovery configs, as a new subscriber (Home Assistant
    starting) gets them; the marker it publishes itself comes after them."""
    m = watcher(broker)
    try:
        m.client.publish("homeassistant/status", "online", qos=1).wait_for_publish(10)
        assert m.wait_for(lambda ms: any(x.topic == "homeassistant/status" for x in ms), 10)
        got = {x.topic: x.payload for x in m.messages if x.topic != "homeassistant/status"}
        assert all(x.retain for x in m.messages if x.topic in got)
        return got
    finally:
        m.stop()


def published(monitor):
    """What the node published while the monitor was subscribed (not what was retained before)."""
    return [(m.topic, m.payload) for m in monitor.messages
            if m.topic.startswith(CONFIGS) and not m.retain]


def test_the_first_wake_announces_each_field_once_retained_and_as_documented(node_sim):
    sim = node_sim()
    live = watcher(sim.broker)
    try:
        w = sim.wake()
        assert "Home Assistant discovery: announced temp_c, rh" in w.output, w.output
        assert live.wait_for(lambda ms: len(published(live)) == 2, 10), w.output
        for _ in range(2):
            w = sim.wake()
            assert "discovery" not in w.output, w.output
        sim.wait_seqs(sim.taken())
        # Once: the later wakes published nothing more (their readings came after, in order).
        assert sorted(t for t, _ in published(live)) == [CONFIGS + "rh/config",
                                                         CONFIGS + "temp_c/config"]
    finally:
        live.stop()
    configs = retained(sim.broker)
    assert sorted(configs) == [CONFIGS + "rh/config", CONFIGS + "temp_c/config"]
    for topic, payload in configs.items():
        assert problems(topic, payload) == [], (topic, payload)
    temp = expand(configs[CONFIGS + "temp_c/config"])
    assert temp["unique_id"] == "node-1_temp_c" and temp["state_topic"] == "nodes/node-1/readings"
    assert (temp["device_class"], temp["unit_of_measurement"]) == ("temperature", "°C")
    assert temp["expire_after"] == 2 * 60 + 60
    assert temp["device"]["identifiers"] == ["mqtt-node_node-1"]
    assert temp["device"]["model"] == "mqtt-node unix" and temp["device"]["sw_version"]
    assert expand(configs[CONFIGS + "rh/config"])["device_class"] == "humidity"
    # What Home Assistant reads with them: the value of each field, and availability from the
    # status (sleeping counts as available, the last will's offline does not).
    reading = sim.messages("readings")[-1].payload
    assert template_value(temp["value_template"], reading) == json.loads(reading)["temp_c"]
    assert temp["availability_topic"] == "nodes/node-1/status"
    states = {json.loads(p)["state"]: availability(temp["availability_template"], p)
              for p in [m.payload for m in sim.messages("status")] + [b'{"state": "offline"}']}
    assert states == {"online": "online", "sleeping": "online", "offline": "offline"}


def test_a_field_that_goes_away_is_removed_and_a_new_interval_announced_again(node_sim):
    sim = node_sim()
    sim.wake()
    sim.node.sensor_fields = "temp_c pressure_hpa"
    w = sim.wake()
    assert "announced temp_c, pressure_hpa; removed rh" in w.output, w.output
    configs = retained(sim.broker)
    assert sorted(configs) == [CONFIGS + "pressure_hpa/config", CONFIGS + "temp_c/config"]
    assert expand(configs[CONFIGS + "pressure_hpa/config"])["unit_of_measurement"] == "hPa"
    # cmd/interval changes expire_after: the configs go again in the wake that takes it.
    sim.command("interval", "300")
    w = sim.wake()
    assert "command interval" in w.output and "announced temp_c, pressure_hpa" in w.output, w.output
    configs = retained(sim.broker)
    assert expand(configs[CONFIGS + "temp_c/config"])["expire_after"] == 2 * 300 + 60


def test_switched_off_it_removes_what_it_announced_and_announces_nothing(node_sim, broker):
    sim = node_sim(broker=broker)
    sim.wake()
    assert len(retained(broker)) == 2
    sim.bundle.joinpath("config.json").write_text(json.dumps(dict(
        json.loads(sim.bundle.joinpath("config.json").read_text()),
        mqtt=dict(json.loads(sim.bundle.joinpath("config.json").read_text())["mqtt"],
                  discovery=False))))
    w = sim.wake()
    assert "Home Assistant discovery: off; removed temp_c, rh" in w.output, w.output
    assert retained(broker) == {}
    w = sim.wake()
    assert "discovery" not in w.output, w.output
    # A new board that never had it on publishes nothing there (its status, which goes after
    # the configs would have, marks the end of the wake).
    other = node_sim(broker=broker, mqtt_opts={"discovery": False}, monitor=False)
    live = watcher(broker, topics=("homeassistant/#", "nodes/node-1/status"))
    try:
        w = other.wake()
        assert live.wait_for(lambda ms: any(b"sleeping" in m.payload and not m.retain
                                            for m in ms), 10), w.output
        assert published(live) == [] and "discovery" not in w.output
    finally:
        live.stop()


def test_cmd_discovery_publishes_the_configs_again(node_sim, broker):
    sim = node_sim(broker=broker)
    sim.wake()
    sim.command("discovery")
    live = watcher(broker)
    try:
        w = sim.wake()
        assert "announced temp_c, rh" in w.output, w.output
        assert live.wait_for(lambda ms: len(published(live)) == 2, 10)
    finally:
        live.stop()
    reply = sim.last_json("reply")
    assert reply["cmd"] == "discovery" and reply["ok"] is True, reply


def test_the_schema_check_refuses_what_home_assistant_would():
    good = {"name": "T", "unique_id": "n_t", "state_topic": "nodes/n/readings",
            "value_template": "{{ value_json.t }}", "unit_of_measurement": "°C",
            "device_class": "temperature", "state_class": "measurement", "expire_after": 180,
            "availability_topic": "nodes/n/status", "device": {"identifiers": ["n"]}}
    topic = "homeassistant/sensor/n/t/config"
    assert problems(topic, json.dumps(good).encode()) == []
    bad = [("homeassistant/sensor/n.1/t/config", good),
           (topic, dict(good, unit_of_measurement="%")),
           (topic, dict(good, state_topic="nodes/+/readings")),
           (topic, dict(good, expire_after=0)),
           (topic, dict(good, stat_class="measurement")),
           (topic, dict(good, unit_of_meas="%")),
           (topic, dict(good, state_class="average")),
           (topic, dict(good, availability=[{"topic": "x"}])),
           (topic, dict(good, device={"name": "n"})),
           (topic, {k: v for k, v in good.items() if k != "unique_id"})]
    for t, doc in bad:
        assert problems(t, json.dumps(doc).encode()), doc
