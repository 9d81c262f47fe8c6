"""Board budgets: a wake fits the heap a board has, on the board emulators (emu/) against a
real Mosquitto over TLS.

- esp8266 (the node frozen, axTLS in the GC heap, pin mode): the usual wake (one reading) and a
  wake that flushes 10 buffered readings and publishes stats, at -X heapsize=28672: 10 KB under
  the ESP8266's 38 KB heap array, room for what its boot takes.
- esp32 (the node as .mpy, mbedtls outside the GC heap, CA mode): the same two wakes at 65536,
  the heap an ESP32 without PSRAM starts with.

Memory caps are deterministic, so these are tests, not timings. A wake over its budget fails
with the phase it broke in and the live heap after each phase (measured again at a large
heap, through bench/device/wake_probe.py)."""

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from host_tools import certs, provision
from host_tools.monitor import Monitor

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import emu  # noqa: E402

DEVICE = "node-1"
BUDGET = {"esp8266": 28672, "esp32": 65536}
MODE = {"esp8266": "pin", "esp32": "ca"}
BACKLOG = 10
PHASES = ("imports", "config+buffer", "TLS+connect", "flush", "stats", "disconnect", "sleep")
ROOMY = 1 << 20


@pytest.fixture(scope="session")
def boards():
    try:
        return emu.ensure()
    except emu.EmulatorMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


class Wakes:
    """A node on one board emulator: a wake prepared (the state of its board before it), run
    at a heap cap, and looked at again through the probe when it does not fit."""

    def __init__(self, board, broker, tmp_path):
        self.board = board
        self.broker = broker
        self.tmp = tmp_path
        self.sim = tmp_path / "sim"
        self.sim.mkdir()
        pin = certs.fingerprint_sha256(certs.load_cert(broker.pki.broker_cert))
        self.args = dict(host="127.0.0.1", port=broker.tls_port, ca_der=broker.ca_der,
                         user=DEVICE, password=broker.users[DEVICE], server_hostname="localhost",
                         tls_mode=MODE[board.name], pins=[pin] if MODE[board.name] == "pin" else (),
                         board=board.name, wifi={"ssid": "lab", "password": "secret"})

    def bundle(self, name, **node):
        opts = {"interval_s": 60, "stats_every_s": 10 ** 7}
        opts.update(node)
        return provision.write_bundle(self.tmp / name, DEVICE, node=opts, **self.args)

    def run(self, bundle, heap=ROOMY, sim=None, **kw):
        return emu.EmuNode(self.board, bundle, sim or self.sim, heapsize=heap, **kw).wake(timeout=60)

    def advance(self, seconds):
        clock = self.sim / "clock"
        clock.write_text(str(float(clock.read_text()) + seconds))

    def usual(self):
        """The wake after a first one: one reading, nothing buffered, the session there."""
        self.run(self.bundle("first"))
        self.advance(60)
        return self.bundle("usual")

    def flush(self):
        """A wake that finds BACKLOG readings in flash, takes one more and publishes stats."""
        offline = self.bundle("offline", readings_per_wake=BACKLOG, rtc_batch=0)
        (self.sim / "wifi-off").touch()
        self.run(offline)
        (self.sim / "wifi-off").unlink()
        self.advance(60)
        return self.bundle("flush", stats_every_s=1)

    def attempt(self, bundle, heap):
        """The wake at `heap`, from the state prepared (kept for another attempt)."""
        trial = self.tmp / "trial"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(self.sim, trial)
        return self.run(bundle, heap, sim=trial)

    def where_it_broke(self, bundle, heap, failed):
        """The phase a wake broke in at `heap`, and the live heap after each phase at a large
        heap, for the failure message."""
        trial = self.tmp / "trial"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(self.sim, trial)
        marks = re.findall(r"^PROBE (\S+) \d+", emu.EmuNode(self.board, bundle, trial, heapsize=heap,
                                                           probe=True).wake(timeout=60).output, re.M)
        done = [p for p in PHASES if p in marks]
        broke_in = PHASES[len(done)] if len(done) < len(PHASES) else "after the wake"
        shutil.rmtree(trial)
        shutil.copytree(self.sim, trial)
        out = self.tmp / "probe.jsonl"
        emu.EmuNode(self.board, bundle, trial, heapsize=ROOMY, probe=True, probe_out=out,
                    collect=True).wake(timeout=60)
        live = json.loads(out.read_text().splitlines()[-1])["marks"] if out.exists() else []
        why = [line for line in failed.output.splitlines()
               if "EMU:" in line or "Error" in line or "failed" in line][-3:]
        return (f"broke in phase {broke_in!r} ({'; '.join(why) or 'no error printed'}); live heap "
                f"after each phase at a large heap: "
                + ", ".join(f"{m[0]} {m[3]:,} B" for m in live))


def delivered(w, monitor, seqs):
    return (w.outcome == "slept" and "(buffered 0 in flash, 0 in RTC memory)" in w.output
            and "failed" not in w.output and "Traceback" not in w.output
            and monitor.wait_for(lambda ms: seqs <= {json.loads(m.payload)["seq"] for m in ms
                                                     if m.topic.endswith("/readings")}, 10))


def taken(output):
    return {int(n) for n in re.findall(r"node: reading n=(\d+)", output)}


@pytest.fixture
def monitor(broker):
    with Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor",
                 broker.users["monitor"]) as mon:
        yield mon


@pytest.mark.parametrize("name", ["esp8266", "esp32"])
@pytest.mark.parametrize("kind", ["usual", "flush"])
def test_a_wake_fits_the_board(kind, name, boards, broker, monitor, tmp_path):
    node = Wakes(boards[name], broker, tmp_path)
    bundle = node.usual() if kind == "usual" else node.flush()
    budget = BUDGET[name]
    w = node.attempt(bundle, budget)
    assert len(taken(w.output)) == 1, w.output
    # the flush wake: the first wake took readings 1 to BACKLOG offline, this one the next
    want = taken(w.output) | (set(range(1, BACKLOG + 1)) if kind == "flush" else set())
    if not delivered(w, monitor, want):
        pytest.fail(f"the {kind} wake does not fit {budget:,} B of heap on the {name} emulator: "
                    + node.where_it_broke(bundle, budget, w) + f"\n{w.output}", pytrace=False)
    if kind == "flush":
        assert monitor.wait_for(lambda ms: any(m.topic == f"nodes/{DEVICE}/stats" for m in ms), 10)


def test_a_wake_over_its_budget_says_where_it_broke(boards, broker, tmp_path):
    node = Wakes(boards["esp8266"], broker, tmp_path)
    bundle = node.usual()
    w = node.attempt(bundle, 20000)
    assert "buffered 0 in flash, 0 in RTC memory" not in w.output
    text = node.where_it_broke(bundle, 20000, w)
    assert "broke in phase 'TLS+connect'" in text and "axTLS" in text, text
    for phase in PHASES:
        assert re.search(re.escape(phase) + r" [\d,]+ B", text), text
