"""The firmware on the unix port publishes over TLS to a real Mosquitto."""

import json

from host_tools import provision, unixport
from host_tools.monitor import Monitor

FIRMWARE_MAIN = str(unixport.FIRMWARE / "main.py")


def bundle(tmp_path, b, **kw):
    opts = dict(host="127.0.0.1", port=b.tls_port, ca_der=b.ca_der, user="node-1",
                password=b.users["node-1"], server_hostname="localhost")
    opts.update(kw)
    return provision.write_bundle(tmp_path / "node-1", "node-1", **opts)


def run_node(bundle_dir, timeout=30):
    return unixport.run([FIRMWARE_MAIN], env={"NODE_DIR": str(bundle_dir)}, timeout=timeout)


def test_node_publishes_qos1_reading_over_tls(tmp_path, broker):
    node_dir = bundle(tmp_path, broker, node={"readings_per_wake": 1})
    with Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor", broker.users["monitor"]) as mon:
        proc = run_node(node_dir)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert mon.wait_count(1, timeout=10)
    (msg,) = [m for m in mon.messages if m.topic.endswith("/readings")]
    assert msg.topic == "nodes/node-1/readings"
    assert msg.qos == 1
    doc = json.loads(msg.payload)
    assert doc["device"] == "node-1" and doc["seq"] == 1 and "temp_c" in doc
    # The broker saw the device log in with its own name and password, over the TLS port.
    assert f"on port {broker.tls_port}" in broker.log_text()
    assert "as node-1 (p2, c0, k60, u'node-1')" in broker.log_text()


def test_hostname_is_checked(tmp_path, broker):
    node_dir = bundle(tmp_path, broker, server_hostname="not-the-broker.example")
    with Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor", broker.users["monitor"]) as mon:
        proc = run_node(node_dir)
        out = proc.stdout + proc.stderr
        # The node does not crash: it says why, keeps its reading and deep-sleeps on backoff.
        assert proc.returncode == 0, out
        assert "wrong hostname" in out and "not-the-broker.example" in out, out
        assert "(buffered 0 in flash, 1 in RTC memory)" in out, out
        # Nothing reached the broker as node-1.
        assert "as node-1" not in broker.log_text()
    assert mon.messages == []
