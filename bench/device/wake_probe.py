# One wake of the firmware (main.py, unchanged) with measurements around it, run under
# MicroPython in place of main.py: `micropython -m wake_probe`. Frozen into the board
# emulators (emu/), so that it takes no heap for its code there either.
#   env: BENCH_PROBE_OUT=<file>    one JSON line appended at deep sleep
#        BENCH_PROBE_COLLECT=1     gc.collect() at each mark: live heap (changes the wake's
#                                  heap layout, so not for finding the smallest heap)
#        BENCH_QUEUE=naive         naive_queue.NaiveQueue in place of node.ringbuf.RingBuffer
#                                  (the reference of the flash figures, bench_node)
# At the end of each phase it prints "PROBE <phase> <heap in use>" (stderr, at once: a wake
# that dies on the way leaves the phase it was in) and records (phase, us since start, heap in
# use[, live after collect]). Phases: imports, config+buffer (the node object: state, ledger,
# sensor), TLS+connect, flush (every reading sent and acknowledged), stats, disconnect, sleep.
# At deep sleep: t_us, marks, peak (largest heap in use at a mark), live (after a collect),
# heap (the GC heap's size), base (in use before the firmware was imported), flash (programs,
# bytes, erases of the simulated chip), modules (the node modules the wake imported, and
# naive_queue when it stood in for the ring buffer).
import gc
import sys
import time

_T0 = time.ticks_us()
import json  # noqa: E402
import os  # noqa: E402

_OUT = os.getenv("BENCH_PROBE_OUT")
_COLLECT = os.getenv("BENCH_PROBE_COLLECT") == "1"
_marks = []
_peak = [0]
gc.collect()
_BASE = gc.mem_alloc()


def _mark(name):
    used = gc.mem_alloc() - _BASE
    if used > _peak[0]:
        _peak[0] = used
    t = time.ticks_diff(time.ticks_us(), _T0)
    if _COLLECT:
        gc.collect()
        live = gc.mem_alloc() - _BASE
        _marks.append((name, t, used, live))
        sys.stderr.write("PROBE %s %d live %d\n" % (name, used, live))
    else:
        _marks.append((name, t, used))
        sys.stderr.write("PROBE %s %d\n" % (name, used))


def _after(owner, name, label):
    inner = getattr(owner, name)

    def wrapped(*args, **kw):
        try:
            return inner(*args, **kw)
        finally:
            _mark(label)
    setattr(owner, name, wrapped)


def _report():
    _mark("sleep")
    took = time.ticks_diff(time.ticks_us(), _T0)
    gc.collect()
    live = gc.mem_alloc() - _BASE
    chip = board._mounted
    flash = [chip.programs, chip.programmed, chip.erases] if chip is not None else [0, 0, 0]
    doc = {"t_us": took, "marks": _marks, "peak": _peak[0], "live": live, "flash": flash,
           "heap": gc.mem_alloc() + gc.mem_free(), "base": _BASE,
           "modules": sorted(m for m in sys.modules if m.startswith("node") or m == "naive_queue")}
    if _OUT:
        with open(_OUT, "a") as f:
            f.write(json.dumps(doc) + "\n")


# The hooks: import what the firmware imports in the wake, then wrap. The modules a wake
# loads only for a while (the MQTT client, node.connect, node.session) stay loaded for the
# whole wake here: their RAM counts in every phase of a probed wake (the smallest heap is
# found without the probe).
import simboard as board  # noqa: E402
import node.app  # noqa: E402
import node.connect  # noqa: E402
import node.session  # noqa: E402
from node.mqtt.client import MQTTClient  # noqa: E402

_mark("imports")
_after(node.app.Node, "__init__", "config+buffer")
_after(node.connect, "connect", "TLS+connect")
_after(node.app.Node, "deliver", "flush")
_after(node.session, "publish_stats", "stats")
_after(MQTTClient, "disconnect", "disconnect")
_sleep = board.deepsleep


def _deepsleep(ms):
    try:
        _report()
    finally:
        _sleep(ms)


board.deepsleep = _deepsleep

if os.getenv("BENCH_QUEUE") == "naive":
    # The ledger imports RingBuffer from node.ringbuf when it opens the buffer, and the wake
    # unloads node.ringbuf after use (node.app._unload): the patched module stays loaded.
    import naive_queue
    import node.ringbuf
    node.ringbuf.RingBuffer = naive_queue.NaiveQueue
    _unload = node.app._unload

    def _keep_ring(name):
        if name != "ringbuf":
            _unload(name)
    node.app._unload = _keep_ring

import main  # noqa: E402,F401   the wake: main.py
