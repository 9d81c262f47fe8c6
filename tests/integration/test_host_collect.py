"""`python -m host_tools collect`: the readings of nodes on the unix board, from the broker
`broker config` wrote, into SQLite exactly once: a persistent session with QoS 1 as a login of
its own, each message acknowledged only after its row is committed. The collector is killed at
random moments while nodes publish, and a database that refuses a write holds the
acknowledgement back; --since/--device/--csv read the rows back."""

import csv
import io
import json
import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from host_tools.backend.readback import parse_since
from host_tools.backend.store import Store
from host_tools.sim import wakelog
from host_tools.simnode import SimNode

pytestmark = pytest.mark.broker

DEVICES = ("node-a", "node-b")


@pytest.fixture
def site(site_factory):
    return site_factory(devices=DEVICES, monitors=("collector",))


class CollectorProcess:
    """`host_tools collect --login collector` as a user runs it; start() returns once it has
    subscribed (it says so)."""

    def __init__(self, site, *extra):
        self.cmd = [sys.executable, "-m", "host_tools", "--certs", str(site.root / "certs"),
                    "--build", str(site.root / "build"), "collect", "--login", "collector", *extra]
        self.cwd = site.root
        self.proc = None
        self.output = ""

    def start(self, timeout=15):
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while "collect: subscribed" not in self.output:
            left = deadline - time.monotonic()
            assert left > 0 and sel.select(left), f"collect did not subscribe:\n{self.output}"
            line = self.proc.stdout.readline()
            assert line, f"collect exited:\n{self.output}"
            self.output += line
        sel.close()
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.output += self.proc.communicate(timeout=10)[0]

    def stop(self):
        """SIGTERM, as a service manager stops it: its totals, exit status 0."""
        self.proc.send_signal(signal.SIGTERM)
        self.output += self.proc.communicate(timeout=15)[0]
        return self.proc.returncode


def db_path(site):
    return site.root / "build" / "collect" / "readings.sqlite"


def stored(site):
    """{device: [seq, ...]} in the database now (read by the test itself)."""
    if not db_path(site).exists():
        return {}
    with sqlite3.connect(db_path(site)) as db:
        out = {}
        for device, seq in db.execute("SELECT device, seq FROM readings ORDER BY seq"):
            out.setdefault(device, []).append(seq)
        return out


def statuses(site, devices):
    with sqlite3.connect(db_path(site)) as db:
        have = dict(db.execute("SELECT device, status FROM devices"))
    return [(have.get(d) or "").encode() for d in devices]


def wait_stored(site, taken, timeout=30):
    """Until every reading taken is in the database (the collector commits them one by one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = stored(site)
        if all(set(nums) <= set(have.get(d, [])) for d, nums in taken.items()):
            return have
        time.sleep(0.05)
    return stored(site)


def run_nodes(site, wakes, taken, done):
    nodes = {d: SimNode(site.bundle(d), site.root / "boards" / d) for d in DEVICES}
    try:
        for _ in range(wakes):
            for device, node in nodes.items():
                w = node.wake(timeout=30)
                assert w.outcome == "slept", w.output
                taken[device] += wakelog.taken(w.output)
    finally:
        done.set()


def test_killed_at_random_moments_it_loses_nothing_and_stores_nothing_twice(site):
    random.seed(os.getpid())
    taken = {d: [] for d in DEVICES}
    done = threading.Event()
    nodes = threading.Thread(target=run_nodes, args=(site, 25, taken, done), daemon=True)
    collector = CollectorProcess(site).start()
    nodes.start()
    kills = 0
    while not done.is_set():
        # A random moment of its work: receiving, writing, committing, acknowledging.
        done.wait(random.uniform(0.02, 0.4))
        collector.kill()
        kills += 1
        collector = CollectorProcess(site).start()
    nodes.join(60)
    have = wait_stored(site, taken)
    assert collector.stop() == 0, collector.output
    assert kills >= 3
    for device in DEVICES:
        assert len(taken[device]) == 25, taken
        # Every reading once: none lost, none twice (the primary key would refuse a second
        # row; the totals say whether any came again and were counted instead).
        assert have[device] == sorted(set(taken[device])), (device, have, taken)
    with sqlite3.connect(db_path(site)) as db:
        assert db.execute("SELECT COUNT(*) FROM conflicts").fetchone() == (0,)
        counts = dict(db.execute("SELECT device, readings FROM devices"))
    assert counts == {d: 25 for d in DEVICES}, counts
    print(f"{kills} kills; the last collector said: {collector.output.strip().splitlines()[-1]}")


def test_a_reading_is_acknowledged_only_once_its_row_is_committed(site):
    collector = CollectorProcess(site).start()
    node = SimNode(site.bundle("node-a"), site.root / "boards" / "node-a")
    node.wake()
    assert wait_stored(site, {"node-a": [1]}) == {"node-a": [1]}
    # The database refuses writes (another program holds its lock): the next reading cannot be
    # committed, so the collector stops without acknowledging it...
    lock = sqlite3.connect(db_path(site), isolation_level=None, timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        node.wake()
        collector.proc.wait(30)
        collector.output += collector.proc.stdout.read()
        assert collector.proc.returncode == 2 and "failed" in collector.output, collector.output
        assert "nothing more was acknowledged" in collector.output
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    # ...and the broker, which kept it, hands it to the next run.
    collector = CollectorProcess(site).start()
    assert wait_stored(site, {"node-a": [1, 2]}) == {"node-a": [1, 2]}
    assert collector.stop() == 0
    assert "stored 1 readings" in collector.output, collector.output


def test_a_resent_reading_counts_as_a_duplicate_and_a_renumbered_board_as_a_conflict(site, tmp_path):
    store = Store(tmp_path / "r.sqlite")
    doc = {"device": "node-a", "seq": 7, "t": 1767225600, "temp_c": 21.5}
    payload = json.dumps(doc).encode()
    assert store.record("node-a", "readings", payload, 1.0) == "stored"
    assert store.record("node-a", "readings", payload, 2.0) == "duplicate"
    again = json.dumps(dict(doc, t=1767225660, temp_c=19.0)).encode()
    assert store.record("node-a", "readings", again, 3.0) == "conflict"
    assert store.record("node-a", "readings", b"not json", 4.0) == "rejected"
    assert store.record("node-a", "status", b'{"state": "sleeping"}', 5.0) == "kept"
    info = store.devices()["node-a"]
    assert (info["readings"], info["duplicates"], info["conflicts"], info["rejected"]) == (1, 1, 1, 1)
    assert info["status"] == {"state": "sleeping"} and info["last"]["payload"] == doc
    assert [r[:2] for r in store.readings()] == [("node-a", 7)]


def test_status_and_stats_per_device_and_reading_back(site):
    collector = CollectorProcess(site).start()
    taken = {d: [] for d in DEVICES}
    for device in DEVICES:
        node = SimNode(site.bundle(device), site.root / "boards" / device)
        for _ in range(3):
            taken[device] += wakelog.taken(node.wake().output)
    wait_stored(site, taken)
    # The status each node leaves when it sleeps comes after its readings.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(
            b'"sleeping"' in (s or b"") for s in statuses(site, DEVICES)):
        time.sleep(0.05)
    assert collector.stop() == 0
    store = Store(db_path(site))
    devices = store.devices()
    store.close()
    for device in DEVICES:
        assert devices[device]["status"]["state"] == "sleeping", devices
        assert devices[device]["stats"]["delivered"] >= 1 and devices[device]["readings"] == 3
    out = site.ok("collect", "--device", "node-b", "--csv")
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][:4] == ["device", "seq", "time", "received"] and "temp_c" in table[0]
    assert [(r[0], int(r[1])) for r in table[1:]] == [("node-b", n) for n in taken["node-b"]]
    out = site.ok("collect", "--since", "2h")
    assert "6 readings since" in out and "node-a" in out and "node-b" in out
    out = site.ok("collect", "--since", "2999-01-01")
    assert out.strip().endswith("0 readings since 2999-01-01T00:00:00Z")
    rc, out, err = site.cli("collect", "--since", "yesterday")
    assert rc == 2 and "--since 'yesterday'" in err and "2h" in err


def test_since_takes_spans_and_utc_dates():
    now = 1_800_000_000
    assert parse_since("2h", now) == now - 7200 and parse_since("15m", now) == now - 900
    assert parse_since("2026-11-30", now) == 1795996800
    assert parse_since("2026-11-30T01:00+01:00", now) == 1795996800
    assert parse_since("2026-11-30T00:00:30Z", now) == 1795996830
