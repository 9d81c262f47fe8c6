"""Fault: a two-node RabbitMQ cluster on loopback (rabbit1, rabbit2: the same definitions, the
session queues mirrored on both, classic mirrored queues), one node killed (SIGKILL) in the
middle of two flushes and brought back later:

  node-2  connected to rabbit1, its session on rabbit1: the node it talks to dies; it fails
          over to rabbit2 (mqtt.hosts) on its backoff schedule
  node-1  connected to rabbit2, its session (the command subscription's queue) on rabbit1: the
          node that held its session dies under it

The back end's session lives on rabbit2. A command waits in each node's session. Readings
lost: 0; duplicates counted; every wake bounded; each command answered. Rows in build/fault-report.json."""

import threading
import time

import pytest

from faultkit import Faulted, tally, wake_bound
from harness.rabbitmq import mqtt_session, start_rabbitmq, wait_port
from host_tools.monitor import Monitor
from nodesim import NodeSim
from tcpproxy import TcpProxy

TIMEOUT = 3
PILE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": 20, "rtc_batch": 0}
OFFLINE_WAKES = 3
# Both nodes are held at this record of their flush (1 is CONNACK) until rabbit1 is killed.
AT_RECORD = 4
LOCAL = "127.0.0.1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, test_pki):
    c = start_rabbitmq(tmp_path_factory.mktemp("cluster"), test_pki, nodes=2)
    yield c
    c.shutdown()


def _sim(tmp_path, cluster, device, first, then, monitor):
    sim = NodeSim(tmp_path / device, cluster, node_opts=PILE, mqtt_opts={"timeout": TIMEOUT},
                  monitor=False, device=device,
                  bundle={"hosts": [(LOCAL, first, "localhost"), (LOCAL, then, "localhost")]})
    sim.monitor = monitor
    return sim


def _offline(sim):
    sim.node.set_wifi(False)
    for _ in range(OFFLINE_WAKES):
        sim.wake()
    sim.node.set_wifi(True)
    return sim.flash()["buffered"]


def test_a_cluster_node_killed_mid_flush_loses_no_reading(cluster, tmp_path, fault_report):
    rabbit1, _ = cluster.nodes
    port1, port2 = cluster.ports
    assert "rabbit2@localhost" in rabbit1.ctl("cluster_status").stdout
    monitor = Monitor(LOCAL, port2, cluster.ca_pem, "monitor", cluster.users["monitor"],
                      client_id="test-monitor", clean_session=False).start()
    to1, to2 = TcpProxy(port1), TcpProxy(port2)
    try:
        # node-1's session is made on rabbit1; it then talks to rabbit2 (its first broker).
        mqtt_session(cluster, "node-1", "node-1", clean=False, port=port1,
                     subscribe="nodes/node-1/cmd/#")
        one = _sim(tmp_path, cluster, "node-1", to2.port, port1, monitor)
        two = _sim(tmp_path, cluster, "node-2", to1.port, port2, monitor)
        for sim in (one, two):
            w = sim.wake()
            assert "delivery failed" not in w.output, w.output
        backlog = {sim.device: _offline(sim) for sim in (one, two)}
        assert all(backlog.values()), backlog
        # A command waits in each session (on rabbit1, mirrored on rabbit2).
        for sim in (one, two):
            monitor.client.publish(sim.topic("cmd/ping"), b"", qos=1).wait_for_publish(10)

        killed_at = []

        def kill():
            rabbit1.kill()
            killed_at.append(time.monotonic())

        both = threading.Barrier(2, action=kill, timeout=TIMEOUT - 1)

        def hold(session, index):
            if index == AT_RECORD and not killed_at:
                both.wait()
        to1.on_record = to2.on_record = hold
        faulted = {}

        def flush(sim):
            # RabbitMQ logs no PUBACK, so what the wake let go of is not weighed against
            # them here: the tally's count of what reached the monitor decides.
            before = sim.custody()
            w = sim.wake()
            faulted[sim.device] = Faulted(w, before, set(sim.taken([w])), sim.custody(), None)
        threads = [threading.Thread(target=flush, args=(sim,)) for sim in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        to1.on_record = to2.on_record = None
        assert killed_at, "rabbit1 was killed with both nodes in the middle of a flush"
        assert "delivery failed" in faulted["node-2"].output, faulted["node-2"].output

        # node-2 tries rabbit1 again (it answered last), then rabbit2.
        for sim in (one, two):
            sim.drain()
            assert monitor.wait_for(lambda _: sim.messages("reply"), 10), \
                f"{sim.device}: the command in its session outlived the node that held it"
        assert "broker 2 of 2" in two.node.wakes[-1].output
        restart = time.monotonic()
        rabbit1.start(timeout=240)
        wait_port(port1)
        back_s = time.monotonic() - restart
        for sim in (one, two):
            w = sim.wake()
            assert "delivery failed" not in w.output, w.output
        assert "broker 2 of 2" in two.node.wakes[-1].output, "it remembers the one that answered"

        for sim, variant in ((two, "the node it talks to"), (one, "the node holding its session")):
            tally(fault_report, sim, [faulted[sim.device]], wake_bound(TIMEOUT),
                  "RabbitMQ cluster node killed "
                  "mid-flush", variant, note=f"2 nodes, session queues mirrored; backlog "
                  f"{backlog[sim.device]} readings; rabbit1 back after {back_s:.0f} s")
    finally:
        monitor.stop()
        to1.close()
        to2.close()
