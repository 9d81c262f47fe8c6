"""`python -m host_tools fleet --once [--json]` against nodes on the unix board and the broker
`broker config` wrote: one row per node from its retained status and stats (and the collector's
last reading), nodes that missed their wake standing out."""

import json
import time

import pytest

from host_tools.backend.fleet import Fleet, table
from host_tools.backend.store import Store
from host_tools.sim import wakelog
from host_tools.simnode import SimNode

pytestmark = pytest.mark.broker


@pytest.fixture
def site(site_factory):
    return site_factory(devices=("node-a", "node-b", "node-c"), monitors=("fleet",))


def fleet_json(site, *extra):
    return {r["device"]: r for r in json.loads(site.ok("fleet", "--once", "--json", "--login", "fleet", *extra))}


def test_once_shows_every_node_from_what_the_broker_kept(site):
    node = SimNode(site.bundle("node-a"), site.root / "boards" / "node-a")
    for _ in range(3):
        w = node.wake()
    # node-b went to sleep a while ago saying it would wake 5 minutes ago, and never did.
    with site.client("node-b", client_id="node-b") as b:
        assert b.connect() == "Success"
        now = int(time.time())
        b.publish("nodes/node-b/status", json.dumps(
            {"state": "sleeping", "t": now - 3900, "next_wake": now - 300}).encode(), retain=True)
    rows = fleet_json(site)
    assert sorted(rows) == ["node-a", "node-b", "node-c"]
    a = rows["node-a"]
    # Stats are retained: the fleet started after the node slept still has them.
    assert a["status"] == "sleeping" and not a["missed"]
    assert a["tls"] == "ca" and a["delivery_pct"] == 100.0 and a["buffered"] == 0
    assert a["free_heap"] > 0 and a["reconnects"] == 0
    # In compressed time the node's clock is a sleep ahead: its next wake is still to come.
    assert a["next_wake_in_s"] > 0
    assert rows["node-b"]["missed"] and rows["node-b"]["next_wake_in_s"] < -290
    # node-c is provisioned here and never seen.
    assert rows["node-c"]["status"] is None and not rows["node-c"]["missed"]
    # No reading came while it watched: the last one is the collector's, when there is one.
    assert a["seq"] is None
    store = Store(site.root / "build" / "collect" / "readings.sqlite")
    store.record("node-a", "readings", json.dumps(
        {"device": "node-a", "seq": 3, "t": int(time.time()) - 20, "temp_c": 21.5}).encode(), 0)
    store.close()
    a = fleet_json(site)["node-a"]
    assert a["seq"] == 3 and a["values"] == {"temp_c": 21.5} and 19 <= a["reading_age_s"] <= 40
    # As text: one line per node, the missed one marked.
    out = site.ok("fleet", "--once", "--login", "fleet")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["device", "status", "last"]
    assert [line for line in lines if line.startswith("!")] == [
        next(line for line in lines if "node-b" in line)]
    assert "MISSED" in out and lines[-1] == "3 nodes, 1 missed their wake or went offline"
    assert wakelog.taken(w.output)


def test_the_table_flags_a_missed_wake_and_an_offline_node_and_skips_late_readings():
    fleet = Fleet(grace=30)
    fleet.update("nodes/n1/status", b'{"state": "sleeping", "t": 1000, "next_wake": 1060}')
    fleet.update("nodes/n2/status", b'{"state": "offline"}')
    fleet.update("nodes/n1/readings", b'{"device": "n1", "seq": 9, "t": 990, "temp_c": 20.5}')
    fleet.update("nodes/n1/readings", b'{"device": "n1", "seq": 4, "t": 700, "temp_c": 19.0}')
    assert not fleet.update("nodes/n1/cmd/ping", b"{}") and not fleet.update("x/y", b"{}")
    on_time = {r["device"]: r for r in fleet.rows(now=1080)}
    late = {r["device"]: r for r in fleet.rows(now=1100)}
    assert not on_time["n1"]["missed"] and late["n1"]["missed"]
    assert on_time["n2"]["missed"] and on_time["n1"]["seq"] == 9
    text = table(fleet.rows(now=1100), color=True)
    assert "\x1b[7mn1" in text and "MISSED" in text and "OFFLINE" in text


def test_live_it_redraws_as_readings_come(site):
    import selectors
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "host_tools", "--certs", str(site.root / "certs"),
                             "--build", str(site.root / "build"), "fleet", "--json", "--refresh",
                             "0.2", "--login", "fleet"], cwd=site.root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)

    def picture(deadline):
        assert sel.select(max(0, deadline - time.monotonic())), "no picture in time"
        line = proc.stdout.readline()
        assert line, "fleet exited"
        return {r["device"]: r for r in json.loads(line)}

    try:
        deadline = time.monotonic() + 15
        assert picture(deadline)["node-a"]["seq"] is None
        node = SimNode(site.bundle("node-a"), site.root / "boards" / "node-a")
        taken = wakelog.taken(node.wake().output)
        while True:
            row = picture(deadline)["node-a"]
            if row["seq"] == taken[-1]:
                break
        assert row["status"] == "sleeping" or row["status"] == "online"
        assert row["values"]["temp_c"] and row["reading_age_s"] is not None
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
