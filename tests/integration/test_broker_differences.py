"""Where RabbitMQ (3.10, its MQTT plugin) and Mosquitto (2.0) differ, each shown on both real
brokers, and what the node does about it:

  a refused SUBSCRIBE   Mosquitto grants it and never delivers; RabbitMQ closes the connection
                        (the node counts a hang-up on SUBSCRIBE as a refusal the second time)
  a silent client       dropped after 1.5 x its keepalive by Mosquitto, 3 x by RabbitMQ (the
                        node pings within the keepalive; on RabbitMQ its will fires later)
  session present       RabbitMQ says 0 while the session holds no subscription (the node
                        trusts the flag only together with what it knows it subscribed)
  retained messages     RabbitMQ hands them only to a subscription to that exact topic
  topic permissions     over routing keys, '.' for '/' (host_tools/broker/rabbitmq.py)
"""

import json
import socket
import ssl
import time

import mqttwire as wire
from harness.rabbitmq import mqtt_session
from host_site import Client


def _tls(broker, timeout=10):
    ctx = ssl.create_default_context(cafile=str(broker.ca_pem))
    raw = socket.create_connection((broker.host, broker.tls_port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def _login(broker, user, client_id, keepalive=30, clean=True):
    conn = _tls(broker)
    conn.sendall(wire.connect(client_id, user, broker.users[user], keepalive, clean))
    ptype, _, body = wire.read_packet(conn)
    assert ptype == wire.CONNACK and body[1] == 0, body
    return conn, bool(body[0] & 1)


def _client(broker, user, **kw):
    c = Client(broker.tls_port, broker.ca_pem, user, broker.users[user], **kw)
    assert c.connect() == "Success"
    return c


def test_a_refused_subscribe_is_granted_and_silent_on_mosquitto_and_hung_up_on_rabbitmq(each_broker):
    conn, _ = _login(each_broker, "node-1", "node-1")
    conn.sendall(wire.subscribe(1, "nodes/node-2/cmd/#", qos=1))
    try:
        answer = wire.read_packet(conn)
    except (EOFError, ConnectionError):
        answer = None
    conn.close()
    if each_broker.kind == "rabbitmq":
        assert answer is None, "RabbitMQ closes the connection on a SUBSCRIBE it refuses"
    else:
        assert answer[0] == wire.SUBACK and answer[2][2:] == b"\x01", answer


def test_a_silent_client_is_dropped_after_one_and_a_half_times_its_keepalive_or_three(each_broker):
    # Mosquitto notices at its next check, some seconds after 1.5 x keepalive.
    conn, _ = _login(each_broker, "node-1", "node-1", keepalive=2)
    t0 = time.monotonic()
    conn.settimeout(15)
    try:
        assert conn.recv(1) == b""
    except ConnectionError:
        pass
    dropped = time.monotonic() - t0
    conn.close()
    print(f"{each_broker.kind}: a silent client with keepalive 2 s dropped after {dropped:.1f} s")
    if each_broker.kind == "rabbitmq":
        assert 5.8 <= dropped <= 8, dropped       # 3 x 2 s
    else:
        assert 2.9 <= dropped <= 8, dropped
        assert "node-1 has exceeded timeout" in each_broker.log_text()


def test_session_present_is_0_on_rabbitmq_while_the_session_holds_no_subscription(each_broker):
    mqtt_session(each_broker, "node-2", "node-2", clean=True)     # no session to begin with
    conn, present = _login(each_broker, "node-2", "node-2", clean=False)
    conn.sendall(wire.disconnect())
    conn.close()
    assert present is False
    conn, present = _login(each_broker, "node-2", "node-2", clean=False)
    assert present is (each_broker.kind == "mosquitto"), "a session without a subscription"
    conn.sendall(wire.subscribe(1, "nodes/node-2/cmd/#", qos=1))
    assert wire.read_packet(conn)[0] == wire.SUBACK
    conn.sendall(wire.disconnect())
    conn.close()
    conn, present = _login(each_broker, "node-2", "node-2", clean=False)
    conn.close()
    assert present is True, "with a subscription both brokers keep and say so"


def test_a_node_whose_session_went_subscribes_again_on_both(each_broker, node_sim):
    sim = node_sim(broker=each_broker, node_opts={"interval_s": 1, "stay_connected_below_s": 0})
    sim.wake()                                   # subscribes
    mqtt_session(each_broker, "node-1", "node-1", clean=True)      # the broker lost the session
    sim.wake()                                   # session present 0: subscribes again
    sim.command("ping")
    w = sim.wake()
    assert '"detail": "pong"' in w.output, w.output


def test_retained_status_reaches_a_wildcard_subscriber_on_mosquitto_only(each_broker):
    node = _client(each_broker, "node-1", client_id="node-1")
    node.publish("nodes/node-1/status", b'{"state": "online"}', retain=True)
    node.close()
    exact = _client(each_broker, "monitor", client_id="test-monitor")
    exact.subscribe("nodes/node-1/status")
    assert exact.wait_for(lambda ms: ms, 10), "a subscription to the exact topic gets it on both"
    exact.close()
    wildcard = _client(each_broker, "monitor", client_id="test-monitor")
    wildcard.subscribe("nodes/#")
    got = wildcard.wait_for(lambda ms: ms, 1.5 if each_broker.kind == "rabbitmq" else 10)
    wildcard.close()
    assert bool(got) is (each_broker.kind == "mosquitto"), [m.topic for m in wildcard.messages]


def test_the_command_subscription_hung_up_on_by_rabbitmq_holds_no_reading_back(rabbitmq, node_sim):
    # node-1 may not read its commands: RabbitMQ closes the connection on the SUBSCRIBE.
    node = rabbitmq.nodes[0]
    perm = next(p for p in json.loads((rabbitmq.workdir / "definitions.json").read_text())
                ["topic_permissions"] if p["user"] == "node-1")
    node.ctl("set_topic_permissions", "-p", perm["vhost"], "node-1", perm["exchange"],
             perm["write"], "^$")
    try:
        sim = node_sim(broker=rabbitmq, node_opts={"interval_s": 1, "stay_connected_below_s": 0,
                                                   "stats_every_s": 1})
        w = sim.wake()
        assert "connection closed on the command subscription" in w.output, w.output
        w = sim.wake()
        assert "refused the command subscription" in w.output and "asked again in 3600 s" in w.output, w.output
        w = sim.wake()
        assert "command subscription" not in w.output, "not asked again within the hour"
        assert "delivery failed" not in w.output
        assert sim.wait_seqs(sim.taken()), "every reading delivered"
        assert sim.last_json("stats")["commands"] == "refused by the broker's ACL"
    finally:
        node.ctl("set_topic_permissions", "-p", perm["vhost"], "node-1", perm["exchange"],
                 perm["write"], perm["read"])
