"""Whole wake cycles of the firmware on the unix board against a real Mosquitto over TLS."""

import json
import os
import threading

import paho.mqtt.client as paho

BACKOFF_MIN_MS, BACKOFF_MAX_MS = 1000, 120000


def retained_status(b, timeout=10):
    """The retained status as a new subscriber sees it."""
    got = {}
    ready = threading.Event()

    def on_message(c, u, msg):
        got["doc"] = json.loads(msg.payload)
        ready.set()

    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="status-probe")
    c.username_pw_set("monitor", b.users["monitor"])
    c.tls_set(ca_certs=str(b.ca_pem))
    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("nodes/node-1/status", 1)
    c.connect(b.host, b.tls_port)
    c.loop_start()
    try:
        assert ready.wait(timeout), "no retained status"
    finally:
        c.disconnect()
        c.loop_stop()
    return got["doc"]


def test_online_wakes_deliver_each_reading_and_never_touch_flash(node_sim, each_broker):
    sim = node_sim(broker=each_broker)
    for _ in range(4):
        w = sim.wake()
        assert 59000 <= w.sleep_ms <= 60000, w.output  # the schedule holds to the second
    assert sim.wait_seqs(range(1, 5))
    assert sorted(sim.seqs()) == [1, 2, 3, 4]
    assert all(m.qos == 1 for m in sim.messages("readings"))
    doc = json.loads(sim.messages("readings")[0].payload)
    assert set(doc) == {"device", "seq", "t", "temp_c", "rh"}
    # Acknowledged within their own wake: nothing was ever written to the ring buffer.
    assert sim.stored() == []
    held = sim.flash()
    assert (held["buffered"], held["next_seq"], held["records"], held["rtc"]) == (0, 1, [], []), held
    # A clean DISCONNECT: the last will did not fire, the status says when the node wakes.
    status = retained_status(sim.broker)
    assert status["state"] == "sleeping" and status["next_wake"] > status["t"]


def test_a_wake_before_the_reading_is_due_takes_none_and_sleeps_the_rest(node_sim):
    # An ESP8266 sleeps at most 2^32 us (71.6 min): with a 2 h interval it wakes that early.
    sim = node_sim(node_opts={"interval_s": 7200})
    first = sim.wake()
    assert 7199000 <= first.sleep_ms <= 7200000, first.output
    skipped_ms = first.sleep_ms - 0xFFFFFFFF // 1000
    sim.node._file("clock").write_text("%.3f" % (sim.node.clock_offset() - skipped_ms / 1000))
    early = sim.wake()
    assert sim.taken() == [1], early.output
    assert abs(early.sleep_ms - skipped_ms) <= 1000, early.output
    assert sim.wait_seqs([1]) and sim.seqs() == [1]


def test_broker_outage_across_wakes_loses_nothing_and_backs_off(node_sim, each_broker):
    sim = node_sim(broker=each_broker, node_opts={"rtc_batch": 4})
    sim.wake()
    sim.broker.stop()
    sleeps = []
    for _ in range(12):
        w = sim.wake()
        assert "ECONNREFUSED" in w.output and "is the broker running" in w.output, w.output
        sleeps.append(w.sleep_ms)
    assert len(sim.taken()) < 12       # retry wakes take no reading before one is due
    # Backoff: 1 s, then growing (jittered), never beyond the reading interval or 120 s.
    assert 1000 <= sleeps[0] <= 1500, sleeps
    assert sleeps[1] > sleeps[0] and sleeps[2] > sleeps[1], sleeps
    assert all(BACKOFF_MIN_MS <= s <= min(BACKOFF_MAX_MS, 60000) for s in sleeps), sleeps
    taken = sim.taken()
    # Readings waited in RTC memory, and went to flash a batch at a time, not one by one.
    stored = sim.stored()
    assert stored and len(stored) >= 5
    assert sum(1 for w in sim.node.wakes if "stored n=" in w.output) < len(stored)
    sim.broker.start()
    sim.drain()
    taken = sim.taken()
    assert sim.wait_seqs(taken)
    assert sorted(set(sim.seqs())) == sorted(taken)
    assert sim.flash()["buffered"] == 0


def test_wifi_loss_keeps_readings_until_it_is_back(node_sim):
    sim = node_sim()
    sim.node.set_wifi(False)
    for _ in range(5):
        w = sim.wake()
        assert "Wi-Fi" in w.output, w.output
    assert sim.seqs() == []
    sim.node.set_wifi(True)
    sim.drain()
    assert sim.wait_seqs(sim.taken())


def test_unacknowledged_reading_is_resent_after_sleep_with_dup_and_its_packet_id(broker_factory, node_sim):
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, mqtt_opts={"timeout": 2})
    sim.proxy.pass_records = 1          # CONNACK gets through, no PUBACK does
    w = sim.wake()
    assert "failed" in w.output
    assert sim.taken() == [1]
    sim.proxy.pass_records = None
    sim.drain()
    log = b.log_text()
    mid = 2                             # reading 1's packet id
    first = f"Received PUBLISH from node-1 (d0, q1, r0, m{mid}, 'nodes/node-1/readings'"
    again = f"Received PUBLISH from node-1 (d1, q1, r0, m{mid}, 'nodes/node-1/readings'"
    assert first in log and again in log, log
    assert log.index(first) < log.index(again)


def test_commands_sent_while_asleep_arrive_at_the_next_wake(node_sim, each_broker):
    sim = node_sim(broker=each_broker)
    sim.wake()                      # first wake subscribes (persistent session)
    sim.command("ping")
    sim.command("interval", "120")
    w = sim.wake()
    assert "command ping" in w.output and "command interval" in w.output, w.output
    assert sim.monitor.wait_count(2, 10, "nodes/node-1/reply")
    replies = [json.loads(m.payload) for m in sim.messages("reply")]
    assert {"cmd": "ping", "ok": True, "detail": "pong"} in replies
    assert {"cmd": "interval", "ok": True, "detail": 120} in replies
    # The new interval holds, also across a power loss (it is kept in flash).
    assert 119000 <= sim.wake().sleep_ms <= 120000
    sim.node.power_loss()
    assert 119000 <= sim.wake().sleep_ms <= 120000


def test_stats_add_up_after_an_outage(node_sim, each_broker):
    sim = node_sim(broker=each_broker, node_opts={"rtc_batch": 2, "stats_every_s": 1})
    sim.wake()
    sim.broker.stop()
    for _ in range(6):
        sim.wake()
    sim.broker.start()
    sim.drain()
    sim.command("stats")
    sim.wake()
    assert sim.monitor.wait_for(lambda ms: any(m.topic.endswith("/stats") for m in ms), 10)
    s = sim.last_json("stats")
    for key in ("tls", "mtls", "qos", "taken", "delivered", "dropped", "buffered", "reconnects",
                "delivery_pct", "free_heap", "uptime_s"):
        assert key in s, key
    assert (s["tls"], s["mtls"], s["qos"]) == ("ca", False, 1)
    assert s["carried"] + s["taken"] == s["delivered"] + s["buffered"] + s["dropped"], s
    assert s["taken"] == len(sim.taken()) and s["buffered"] == 0 and s["delivery_pct"] == 100.0
    assert s["reconnects"] == 1 and s["failures"] >= 6
    slept = sum(w.sleep_ms for w in sim.node.wakes[:-1]) // 1000
    assert s["free_heap"] > 0 and slept <= s["uptime_s"] <= slept + 10, (s, slept)


def test_garbage_in_rtc_memory_resets_without_a_crash(node_sim):
    sim = node_sim()
    sim.wake()
    (sim.node.sim_dir / "rtc.bin").write_bytes(os.urandom(300))
    w = sim.wake()
    assert w.outcome == "slept" and "cold boot (" in w.output, w.output
    (before,) = sim.taken(sim.node.wakes[:1])
    (after,) = sim.taken(sim.node.wakes[1:])
    assert after > before                # numbering resumed above what was used, no reuse
    assert sim.wait_seqs([before, after])
    assert len(set(sim.seqs())) == len(sim.seqs())


def test_broken_config_sleeps_long_instead_of_crashing(node_sim):
    sim = node_sim()
    cfg = json.loads((sim.bundle / "config.json").read_text())
    cfg["mqtt"]["keepalve"] = 30
    (sim.bundle / "config.json").write_text(json.dumps(cfg))
    w = sim.wake()
    assert w.outcome == "slept" and w.sleep_ms == 3600000
    assert "mqtt.keepalve" in w.output


def test_short_interval_stays_connected_and_the_will_fires_when_it_vanishes(node_sim):
    sim = node_sim(node_opts={"interval_s": 1, "stay_connected_below_s": 60})
    w = sim.wake(kill_after=4.5)
    assert w.outcome == "killed"
    seqs = sim.seqs()
    assert sim.wait_seqs(range(1, 4)), seqs
    log = sim.broker.log_text()
    # One connection for every reading, with a keepalive derived from the interval (1 + 10 s).
    assert log.count("as node-1 (p2, c0, k11, u'node-1')") == 1, log
    # Killed without DISCONNECT: the broker publishes the last will within 1.5 x keepalive.
    assert sim.monitor.wait_for(
        lambda ms: any(m.topic.endswith("/status") and b"offline" in m.payload for m in ms), 25)


def test_clock_from_1970_is_set_by_ntp_before_tls(node_sim):
    from ntpserver import SERVER_TIME, NtpServer
    import time
    ntp = NtpServer()
    try:
        sim = node_sim(node_opts={"ntp_host": "127.0.0.1", "ntp_port": ntp.port})
        # A board that lost power wakes with its clock at the epoch.
        (sim.node.sim_dir / "clock").write_text(str(-time.time() + 5))
        sim.wake()
        assert sim.wait_seqs([1])
        t = json.loads(sim.messages("readings")[0].payload)["t"]
        assert ntp.requests == 1
        assert abs(t - SERVER_TIME) < 30, t
    finally:
        ntp.close()


def test_clock_unknown_and_no_ntp_keeps_the_reading_and_says_why(node_sim):
    import time
    sim = node_sim(node_opts={"ntp_host": "127.0.0.1", "ntp_port": 9})   # nothing answers
    (sim.node.sim_dir / "clock").write_text(str(-time.time() + 5))
    w = sim.wake()
    assert "clock not set and NTP" in w.output and "node.ntp_host" in w.output, w.output
    assert "(buffered 0 in flash, 1 in RTC memory)" in w.output
    assert sim.seqs() == []
