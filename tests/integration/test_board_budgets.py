"""Board budgets: a wake fits the heap a board has, on the board emulators (emu/) against a
real Mosquitto over TLS.

- esp8266 (the node frozen, axTLS in the GC heap, pin mode): the usual wake (one reading) and a
  wake that flushes 10 buffered readings, publishes stats and announces the Home Assistant
  discovery configs (the first wakes were offline), at -X heapsize=28672: 10 KB under the
  ESP8266's 38 KB heap array, room for what its boot takes.
- esp32 (the node as .mpy, mbedtls outside the GC heap, CA mode): the same two wakes at 65536,
  the heap an ESP32 without PSRAM starts with.
- the MQTT client alone, for a program with its own loop (emu/client_alone.py: .mpy on the
  64-bit unix port, TLS, CONNECT, one QoS 1 publish, DISCONNECT): 24 KB.

Memory caps are deterministic, so these are tests, not timings. A wake over its budget fails
with the phase it broke in and the live heap after each phase (measured again at a large
heap, through bench/device/wake_probe.py)."""

import json
import os
import sys
from pathlib import Path

import pytest

from host_tools import certs
from host_tools.monitor import Monitor

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import emu  # noqa: E402
from emu import client_alone  # noqa: E402
from emu.wakes import BACKLOG, DEVICE, PHASES, Wakes, delivered, taken  # noqa: E402

BUDGET = {"esp8266": 28672, "esp32": 65536}


@pytest.fixture(scope="session")
def boards():
    try:
        return emu.ensure()
    except emu.EmulatorMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def wakes(board, broker, tmp_path):
    pin = certs.fingerprint_sha256(certs.load_cert(broker.pki.broker_cert))
    return Wakes(board, dict(host="127.0.0.1", port=broker.tls_port, ca_der=broker.ca_der,
                             user=DEVICE, password=broker.users[DEVICE],
                             server_hostname="localhost", pins=[pin]), tmp_path)


@pytest.fixture
def monitor(broker):
    with Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor",
                 broker.users["monitor"]) as mon:
        yield mon


def readings_at_broker(monitor):
    return {json.loads(m.payload)["seq"] for m in monitor.messages
            if m.topic == f"nodes/{DEVICE}/readings"}


@pytest.mark.parametrize("name", ["esp8266", "esp32"])
@pytest.mark.parametrize("kind", ["usual", "flush"])
def test_a_wake_fits_the_board(kind, name, boards, broker, monitor, tmp_path):
    node = wakes(boards[name], broker, tmp_path)
    bundle = node.usual() if kind == "usual" else node.flush()
    budget = BUDGET[name]
    w = node.attempt(bundle, budget)
    if not delivered(w):
        pytest.fail(f"the {kind} wake does not fit {budget:,} B of heap on the {name} emulator: "
                    + node.where_it_broke(bundle, budget, w) + f"\n{w.output}", pytrace=False)
    # One reading taken; the flush wake's first wake took 1 to BACKLOG offline. The broker has
    # them all.
    assert len(taken(w.output)) == 1, w.output
    want = taken(w.output) | (set(range(1, BACKLOG + 1)) if kind == "flush" else set())
    assert monitor.wait_for(lambda _: want <= readings_at_broker(monitor), 10), \
        (sorted(want), sorted(readings_at_broker(monitor)))
    if kind == "flush":
        assert monitor.wait_for(lambda ms: any(m.topic == f"nodes/{DEVICE}/stats" for m in ms), 10)
    # Discovery goes with the first wake that reached the broker (the usual wake's first one
    # did), once; a flush wake with no room left for it in the heap leaves it to the next wake,
    # which must announce it within the same budget.
    announced = "Home Assistant discovery: announced" in w.output
    if kind == "usual" or announced:
        assert announced == (kind == "flush"), w.output
    else:
        assert "discovery: no room in this wake's heap, next wake" in w.output, w.output
        after = node.next_wake(budget)
        assert delivered(after) and "Home Assistant discovery: announced" in after.output, \
            after.output


def test_a_wake_over_its_budget_says_where_it_broke(boards, broker, tmp_path):
    node = wakes(boards["esp8266"], broker, tmp_path)
    bundle = node.usual()
    w = node.attempt(bundle, 20000)
    assert not delivered(w)
    text = node.where_it_broke(bundle, 20000, w)
    assert "broke in phase 'TLS+connect'" in text and "axTLS" in text, text
    for phase in PHASES:
        assert f"{phase} " in text and " B" in text, text


def test_the_mqtt_client_alone_fits_24_kb(broker, monitor, tmp_path):
    code = client_alone.prepare(tmp_path / "code")

    def attempt(heap):
        return client_alone.attempt(code, "node", heap, "localhost", broker.tls_port, DEVICE,
                                    broker.users[DEVICE], broker.pki.ca_der)
    run = attempt(client_alone.BUDGET)
    assert client_alone.fits(run), \
        f"the MQTT client alone does not fit {client_alone.BUDGET:,} B:\n{run.stdout}{run.stderr}"
    assert monitor.wait_for(lambda ms: any(m.topic == f"nodes/{DEVICE}/readings" for m in ms), 10)
    # The cap binds: 4 KB less and the same run runs out of memory.
    short = attempt(client_alone.BUDGET - 4096)
    assert not client_alone.fits(short) and "MemoryError" in short.stderr, short.stderr
