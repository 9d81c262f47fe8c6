"""node.mqtt under the unix port against a real Mosquitto over TLS: login refusals, ACLs,
persistent sessions, a broker killed with messages in flight, keepalive, last will, and
CONNECT with queued publishes in one flight."""

import signal
import time

import paho.mqtt.client as paho
import pytest

from host_tools.monitor import Monitor

import mqtt_run


@pytest.fixture
def folder(tmp_path, test_pki):
    mqtt_run.write_der(tmp_path / "ca.der", test_pki.ca_cert)
    return tmp_path


def params(b, **kw):
    p = dict(port=b.tls_port, user="node-1", password=b.users["node-1"],
             tls={"mode": "ca", "ca": "ca.der"})
    p.update(kw)
    return p


def monitor(b, **kw):
    return Monitor(b.host, b.tls_port, b.ca_pem, "monitor", b.users["monitor"], **kw)


class PersistentSubscriber:
    """A paho subscriber with a persistent session: it gets what was published while it was
    away, also across a broker restart (the broker's persistence keeps its session)."""

    def __init__(self, b, topic="nodes/#"):
        self.messages = []
        self.subscribed = False
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="persistent-monitor",
                             clean_session=False)
        self.c.username_pw_set("monitor", b.users["monitor"])
        self.c.tls_set(ca_certs=str(b.ca_pem))
        self.c.reconnect_delay_set(0.2, 1)
        self.c.on_message = lambda c, u, m: self.messages.append(m.payload)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
        self.c.on_subscribe = lambda *a: setattr(self, "subscribed", True)
        self.c.connect(b.host, b.tls_port, keepalive=30)
        self.c.loop_start()

    def wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_wrong_password_names_the_likely_causes(folder, broker):
    body = """
    c = client()
    err = error_of(c.connect)
    result([err, c.sock is None])
    """
    proc, res = mqtt_run.run(folder, body, params(broker, password="wrong"))
    assert res is not None, proc.stdout + proc.stderr
    (kind, text), closed = res
    assert kind == "MQTTRefused" and closed, res
    # Mosquitto 2.0 answers a wrong password on MQTT 3.1.1 with code 5 (not authorized).
    assert text.startswith("(5, ") and "not authorized" in text, text
    assert "wrong username/password" in text and "ACL" in text, text


def test_acl_keeps_a_device_to_its_own_topics(folder, broker_factory):
    b = broker_factory(devices=("node-1", "node-2"))
    body = """
    got = []
    c = client()
    c.set_callback(lambda t, m: got.append([t.decode(), m.decode()]))
    c.connect()
    c.subscribe("nodes/node-1/cmd/#", 1)
    c.subscribe("nodes/node-2/cmd/#", 1)     # not this device's: nothing will come of it
    print("SUBSCRIBED")
    a = c.publish("nodes/node-1/readings", "mine", qos=1)
    b = c.publish("nodes/node-2/readings", "not mine", qos=1)   # MQTT 3.1.1 acks it anyway
    deadline = time.ticks_add(time.ticks_ms(), 8000)
    while len(got) < 1 and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        c.wait_msg(0.5)
    c.wait_msg(0.5)
    result({"acks": [a, b], "got": got})
    """
    with monitor(b) as mon:
        proc = mqtt_run.start(folder, body, params(b))
        try:
            for line in proc.stdout:
                if line.startswith("SUBSCRIBED"):
                    break
            mon.client.publish("nodes/node-2/cmd/x", b"for node-2", qos=1).wait_for_publish(5)
            mon.client.publish("nodes/node-1/cmd/x", b"for node-1", qos=1).wait_for_publish(5)
            out = proc.stdout.read()
            proc.wait(30)
        finally:
            proc.kill()
        res = mqtt_run.parse(out)
        assert res is not None, out
        assert mon.wait_count(1, timeout=5, topic_prefix="nodes/node-1/readings")
    assert res["acks"] == [3, 4], res
    assert res["got"] == [["nodes/node-1/cmd/x", "for node-1"]], res
    topics = [m.topic for m in mon.messages if m.topic.endswith("/readings")]
    assert topics == ["nodes/node-1/readings"], topics


def test_persistent_session_receives_what_came_while_away(folder, broker):
    first = """
    c = client()
    c.set_callback(lambda t, m: None)
    sp = c.connect(clean_session=False)
    c.subscribe("nodes/node-1/cmd/#", 1)
    c.disconnect()
    result(sp)
    """
    proc, res = mqtt_run.run(folder, first, params(broker))
    assert res is not None, proc.stdout + proc.stderr
    with monitor(broker) as mon:
        for i in range(3):
            mon.client.publish("nodes/node-1/cmd/set", f"cmd {i}".encode(), qos=1).wait_for_publish(5)
    second = """
    got = []
    c = client()
    c.set_callback(lambda t, m: got.append(m.decode()))
    sp = c.connect(clean_session=False)
    deadline = time.ticks_add(time.ticks_ms(), 10000)
    while len(got) < 3 and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        c.wait_msg(1)
    c.disconnect()
    result({"session_present": sp, "got": got})
    """
    proc, res = mqtt_run.run(folder, second, params(broker))
    assert res is not None, proc.stdout + proc.stderr
    assert res["session_present"] == 1
    assert res["got"] == ["cmd 0", "cmd 1", "cmd 2"], res


def test_message_in_flight_when_the_broker_is_killed_arrives_after_it_returns(folder, broker_factory):
    b = broker_factory()
    sub = PersistentSubscriber(b)
    try:
        assert sub.wait(lambda: sub.subscribed, 10)
        # The subscription must be in the broker's persistence file before the broker dies.
        db = b.workdir / "data" / "mosquitto.db"
        since = time.time()
        assert sub.wait(lambda: db.exists() and db.stat().st_mtime > since, 10), "no autosave"
        body = """
        c = client(window=10, timeout=2, reconnect_tries=20)
        c.DELAY = 0.2
        c.connect(clean_session=False)
        print("CONNECTED")
        sys.stdin.readline()
        for i in range(5):
            c.publish("nodes/node-1/readings", "reading %d" % i, qos=1)
        print("PUBLISHED", c.pending())
        ok = c.wait_acks(60)
        result({"ok": ok, "pending": c.pending()})
        """
        proc = mqtt_run.start(folder, body, params(b))
        try:
            assert proc.stdout.readline().startswith("CONNECTED")
            b.process.proc.send_signal(signal.SIGSTOP)      # the broker stops reading...
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line.startswith("PUBLISHED [1, 2, 3, 4, 5]"), line
            b.restart(sig=signal.SIGKILL)                    # ...and dies with them unread
            out = proc.stdout.read()
            proc.wait(60)
        finally:
            proc.kill()
        res = mqtt_run.parse(out)
        assert res == {"ok": True, "pending": []}, out
        want = {f"reading {i}".encode() for i in range(5)}
        assert sub.wait(lambda: want <= set(sub.messages), 20), sub.messages
    finally:
        sub.stop()


def test_keepalive_keeps_an_idle_client_past_one_and_a_half_times(folder, broker):
    body = """
    made = {"idle": 0, "silent": 0}

    def counting(name):
        from node.mqtt.link import open_tcp
        def factory(host, port, timeout):
            made[name] += 1
            return open_tcp(host, port, timeout)
        return factory

    # The control: a client that says keepalive 1 s in CONNECT, then never pings (as umqtt).
    silent = client(client_id="node-1b", keepalive=1, socket_factory=counting("silent"))
    silent.connect()
    silent.keepalive = 0                        # its pings switched off after CONNECT
    errors = []
    silent.log = lambda r, e: errors.append(str(e))
    # This one keeps its connection: an idle loop, pinging when due.
    idle = client(client_id="node-1", keepalive=1, socket_factory=counting("idle"))
    idle.connect()
    t0 = time.ticks_ms()
    dropped_after = None
    # Run past 1.5 x keepalive (1.5 s), and until the broker has dropped the control (Mosquitto
    # checks keepalives every few seconds).
    while time.ticks_diff(time.ticks_ms(), t0) < 4000 or (not errors and
                                                         time.ticks_diff(time.ticks_ms(), t0) < 15000):
        idle.wait_msg(0.2)
        if not errors:
            silent.check_msg()
            if errors:
                dropped_after = time.ticks_diff(time.ticks_ms(), t0)
                silent.disconnect()
    pid = idle.publish("nodes/node-1/alive", "still here", qos=1)
    result({"made": made, "pid": pid, "silent_errors": errors, "dropped_after": dropped_after})
    """
    proc, res = mqtt_run.run(folder, body, params(broker), timeout=60)
    assert res is not None, proc.stdout + proc.stderr
    print("keepalive control dropped after", res["dropped_after"], "ms")
    assert res["silent_errors"], res                        # the control was dropped...
    assert res["made"] == {"idle": 1, "silent": 2}, res     # ...the idle client never was
    assert res["pid"] == 1, res
    log = broker.log_text()
    assert "node-1b has exceeded timeout" in log, log
    assert "node-1 has exceeded timeout" not in log, log


def test_last_will_only_when_the_connection_just_drops(folder, broker):
    body = """
    import socket
    a = client(client_id="node-1")
    a.set_last_will("nodes/node-1/status", "gone (node-1)", qos=1)
    a.connect()
    b = client(client_id="node-1b")
    b.set_last_will("nodes/node-1/status", "gone (node-1b)", qos=1)
    b.connect()
    b.disconnect()                   # DISCONNECT: the will is dropped
    a._raw.close()                   # the connection just breaks: the will goes out
    result("done")
    """
    with monitor(broker, topics=("nodes/node-1/status",)) as mon:
        proc, res = mqtt_run.run(folder, body, params(broker))
        assert res == "done", proc.stdout + proc.stderr
        assert mon.wait_count(1, timeout=10)
        assert not mon.wait_count(2, timeout=1)
    assert [m.payload for m in mon.messages] == [b"gone (node-1)"]


def test_connect_and_queued_readings_go_in_one_flight(folder, broker):
    body = """
    c = client(window=8)
    for i in range(5):
        c.publish("nodes/node-1/readings", "queued %d" % i, qos=1)
    t = time.ticks_us()
    c.connect(clean_session=False)
    ok = c.wait_acks(10)
    result({"ok": ok, "us": time.ticks_diff(time.ticks_us(), t), "pending": c.pending()})
    c.disconnect()
    """
    with monitor(broker) as mon:
        proc, res = mqtt_run.run(folder, body, params(broker))
        assert res is not None, proc.stdout + proc.stderr
        assert res["ok"] and res["pending"] == [], res
        assert mon.wait_count(5, timeout=10)
    assert [m.payload for m in mon.messages] == [f"queued {i}".encode() for i in range(5)]
