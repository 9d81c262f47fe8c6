"""Nothing a broker, a command or a config can send stops a node from delivering its readings:
the real firmware wake against a real Mosquitto. Poison commands wait in the node's persistent
session while it sleeps (not UTF-8, over mqtt.max_packet, 100 KB) with a backlog of readings
behind them; a fuzz of command payloads; an ACL that denies the command topics; a broker that
hangs up on SUBSCRIBE; a bad config value; an error inside a wake; a full flash."""

import json
import random

import pytest

from host_tools.broker.acl import DEVICE_TOPICS

from nodesim import DEVICE

BACKLOG = 3             # offline wakes before the poison: readings waiting in RTC memory


def backlog(sim, wakes=BACKLOG):
    """Readings taken with the broker out of reach; their numbers."""
    sim.node.set_wifi(False)
    for _ in range(wakes):
        sim.wake()
    sim.node.set_wifi(True)
    return sim.taken()


def replies(sim, name=None):
    out = [json.loads(m.payload) for m in sim.messages("reply")]
    return [r for r in out if name is None or r["cmd"] == name]


def assert_all_delivered(sim):
    w = sim.drain()
    assert sim.wait_seqs(sim.taken()), (sorted(sim.taken()), sorted(sim.seqs()))
    assert not [x for x in sim.node.wakes if x.outcome == "crashed"]
    return w


@pytest.mark.parametrize("name, payload, words", [
    ("interval", b"\xff\xfe\xfd", "not UTF-8"),
    ("interval", b"9" * 5000, "over mqtt.max_packet"),
    ("ping", b"p" * 100_000, "over mqtt.max_packet"),
])
def test_a_poison_command_queued_while_asleep_is_answered_and_never_comes_again(
        name, payload, words, node_sim):
    sim = node_sim(node_opts={"interval_s": 1, "stay_connected_below_s": 0})
    sim.wake()                                  # the node's session, subscribed
    before = backlog(sim)
    sim.command(name, payload)
    sim.command("ping")                         # a good command behind the poison
    w = sim.wake()
    assert "delivery failed" not in w.output and "Traceback" not in w.output, w.output
    assert sim.wait_seqs(before), "the backlog behind the poison went out in the same wake"
    assert sim.monitor.wait_for(lambda _: len(replies(sim)) >= 2, 10), replies(sim)
    bad = [r for r in replies(sim, name) if not r["ok"]][0]
    assert words in bad["detail"], bad
    assert replies(sim, "ping")[-1]["detail"] == "pong"
    assert_all_delivered(sim)
    # Acknowledged once answered: the broker does not hand it back.
    sim.wake()
    assert len([r for r in replies(sim, name) if not r["ok"]]) == 1
    sim.command("stats")
    sim.wake()
    assert sim.monitor.wait_for(lambda ms: any(m.topic.endswith("/stats") for m in ms), 10)
    stats = sim.last_json("stats")
    assert stats["refused"] >= 1 and stats["oversized"] == (1 if "max_packet" in words else 0), stats


def test_a_thousand_random_command_payloads_through_real_wakes(node_sim):
    sim = node_sim(node_opts={"interval_s": 30, "stay_connected_below_s": 0},
                   mqtt_opts={"max_packet": 1024})
    sim.wake()
    rng = random.Random(1200)
    names = ("interval", "ping", "stats", "reboot", "", "é", "cmd/deeper", "interval/x")
    sent = 0
    total = 1000
    assert sim.monitor.wait_ready(15)
    while sent < total:
        for _ in range(100):
            kind = rng.getrandbits(3)
            if kind == 0:
                payload = bytes(rng.getrandbits(8) for _ in range(rng.getrandbits(5)))
            elif kind == 1:
                payload = str(rng.randrange(-10 ** 6, 10 ** 6)).encode()
            elif kind == 2:
                payload = b"x" * (1000 + rng.getrandbits(11))      # over max_packet or not
            elif kind == 3:
                payload = ("%f" % rng.random()).encode()
            else:
                payload = bytes(rng.getrandbits(7) for _ in range(rng.getrandbits(4)))
            topic = sim.topic("cmd/" + rng.choice(names))
            sim.monitor.client.publish(topic, payload, qos=1).wait_for_publish(10)
            sent += 1
        for _ in range(8):                      # 16 commands a wake
            w = sim.wake()
            assert "delivery failed" not in w.output and "Traceback" not in w.output, w.output
    for _ in range(40):
        w = sim.wake()
        if "node: command" not in w.output:
            break
    assert sim.monitor.wait_for(lambda _: len(replies(sim)) >= total, 20), len(replies(sim))
    assert len(replies(sim)) == total, "every command answered once"
    assert_all_delivered(sim)


def test_an_acl_that_denies_the_commands_holds_no_reading_back(broker_factory, node_sim):
    # Mosquitto grants a subscription its ACL denies and never delivers on it (brokers that
    # answer SUBACK 0x80 instead: tests/device/test_node_subscription.py). The readings and
    # the backlog go all the same; the command waits unanswered.
    b = broker_factory(device_topics=tuple(t for t in DEVICE_TOPICS if t[0] == "write"),
                       bind_client_ids=True)
    sim = node_sim(broker=b, node_opts={"interval_s": 1, "stay_connected_below_s": 0})
    sim.wake()
    backlog(sim)
    sim.command("ping")
    for _ in range(3):
        w = sim.wake()
        assert "delivery failed" not in w.output, w.output
    assert replies(sim) == []
    assert_all_delivered(sim)


def test_a_broker_that_hangs_up_on_subscribe_holds_no_reading_back(broker_factory, node_sim):
    # RabbitMQ closes the connection on a SUBSCRIBE it refuses: here a proxy cuts it there.
    sim = node_sim(proxy=True, node_opts={"interval_s": 1, "stay_connected_below_s": 0,
                                          "stats_every_s": 1})
    sim.wake()
    reference = sim.proxy.sessions[-1]
    from faultkit import forget_session, label_records
    r = next(r for r, label in label_records(reference) if label == "SUBSCRIBE")
    n = [q for q in reference.records if q.sender == r.sender].index(r)
    for i in range(2):
        forget_session(sim.broker)
        backlog(sim, 2)
        sim.proxy.cut_in_record, sim.proxy.cut_connections = (r.sender, n, 0), 1
        w = sim.wake()
        assert "delivery failed" not in w.output, w.output
        assert sim.wait_seqs(sim.taken()), "readings first, then the subscription"
    assert "refused the command subscription" in w.output, w.output
    assert "asked again in 3600 s" in w.output
    # Within the hour the node does not ask again; its status says what to fix.
    w = sim.wake()
    status = sim.last_json("status")
    assert "ACL" in status.get("commands", ""), status
    assert "refused the command subscription" not in w.output
    stats = sim.last_json("stats")
    assert stats["commands"] == "refused by the broker's ACL", stats


def test_a_bad_config_value_is_named_in_one_line_and_the_node_sleeps_an_hour(node_sim):
    sim = node_sim()
    sim.wake()
    taken = backlog(sim, 2)
    cfg = json.loads((sim.bundle / "config.json").read_text())
    good = json.dumps(cfg)
    cfg["mqtt"]["password"] = 123
    (sim.bundle / "config.json").write_text(json.dumps(cfg))
    w = sim.wake()
    lines = [line for line in w.output.splitlines() if line.strip()]
    assert lines == ["node: config.json: mqtt.password must be a non-empty string, not 123; fix "
                     "it with `host_tools provision`"], w.output
    assert w.sleep_ms == 3600 * 1000
    (sim.bundle / "config.json").write_text(good)
    assert_all_delivered(sim)
    assert set(taken) <= set(sim.seqs())


def test_an_error_inside_a_wake_loses_no_reading(node_sim):
    sim = node_sim(node_opts={"interval_s": 1, "stay_connected_below_s": 0})
    sim.wake()
    (sim.node.sim_dir / "wifi-crash").touch()   # the board's Wi-Fi raises an unexpected error
    for _ in range(3):
        w = sim.wake()
        assert "Traceback" in w.output and w.outcome == "slept", w.output
    (sim.node.sim_dir / "wifi-crash").unlink()
    assert_all_delivered(sim)


def test_a_full_flash_keeps_the_readings_in_rtc_memory(node_sim):
    sim = node_sim(node_opts={"interval_s": 1, "stay_connected_below_s": 0, "rtc_batch": 2})
    sim.wake()
    (sim.node.sim_dir / "flash-full").touch()   # every write to the chip fails (ENOSPC)
    backlog(sim, 4)
    assert any("flash refused" in w.output for w in sim.node.wakes), sim.node.wakes[-1].output
    (sim.node.sim_dir / "flash-full").unlink()
    assert_all_delivered(sim)
