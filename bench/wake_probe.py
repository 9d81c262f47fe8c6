# One wake of the firmware (firmware/main.py, unchanged) with measurements around it, for
# bench/bench_node.py. Runs under the unix port in place of main.py:
#   micropython wake_probe.py        env: BENCH_PROBE_OUT=<file>  (one JSON line appended)
#                                         BENCH_QUEUE=naive        (naive_queue.NaiveQueue in
#                                                                   place of the ring buffer)
# What it records, at deep sleep (the end of the wake):
#   t_us     script start -> deep sleep, inside MicroPython (no CPython wrapper, no start-up)
#   marks    (phase, us since start, gc.mem_alloc() - base) at the end of each phase
#   peak     the highest gc.mem_alloc() - base seen at a mark (see bench_node for what it means)
#   heap     the size of the GC heap (-X heapsize, or the default)
#   live     gc.mem_alloc() - base after gc.collect() at deep sleep: what the wake still held
#   flash    [programs, bytes programmed, erases] of the simulated chip in this wake
#   modules  the node modules this wake imported
# base is gc.mem_alloc() after gc.collect() just before the firmware is imported, so the
# probe's own few objects are left out; the hooks below allocate a few hundred bytes.
import gc
import time

_T0 = time.ticks_us()
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

_OUT = os.getenv("BENCH_PROBE_OUT")
_marks = []
_peak = [0]
gc.collect()
_BASE = gc.mem_alloc()


_COLLECT = os.getenv("BENCH_PROBE_COLLECT") == "1"


def _mark(name):
    used = gc.mem_alloc() - _BASE
    if used > _peak[0]:
        _peak[0] = used
    t = time.ticks_diff(time.ticks_us(), _T0)
    if _COLLECT:
        gc.collect()
        _marks.append((name, t, used, gc.mem_alloc() - _BASE))
    else:
        _marks.append((name, t, used))


def _after(cls, name, label):
    inner = getattr(cls, name)

    def wrapped(*args, **kw):
        try:
            return inner(*args, **kw)
        finally:
            _mark(label)
    setattr(cls, name, wrapped)


def _report():
    _mark("sleep")
    took = time.ticks_diff(time.ticks_us(), _T0)
    gc.collect()
    live = gc.mem_alloc() - _BASE
    chip = board._mounted
    flash = [chip.programs, chip.programmed, chip.erases] if chip is not None else [0, 0, 0]
    doc = {"t_us": took, "marks": _marks, "peak": _peak[0], "live": live, "flash": flash,
           "heap": gc.mem_alloc() + gc.mem_free(), "base": _BASE,
           "modules": sorted(m for m in sys.modules if m.startswith("node"))}
    if _OUT:
        with open(_OUT, "a") as f:
            f.write(json.dumps(doc) + "\n")


# The hooks: import what the firmware will import anyway, then wrap.
import simboard as board  # noqa: E402
import node.app  # noqa: E402
from node.mqtt import MQTTClient  # noqa: E402

_mark("imports")
_after(node.app.Node, "__init__", "config+buffer")    # mounts the flash, opens the buffer
_after(node.app.Node, "connect", "TLS+connect")
_after(node.app.Node, "deliver", "flush")
_after(MQTTClient, "disconnect", "disconnect")
_free_heap = board.free_heap


def _stats_heap():
    _mark("stats")              # before the collection free_heap() makes
    return _free_heap()


board.free_heap = _stats_heap
if os.getenv("BENCH_QUEUE") == "naive":
    import naive_queue
    node.app.RingBuffer = naive_queue.NaiveQueue

_sleep = board.deepsleep


def _deepsleep(ms):
    try:
        _sleep(ms)
    finally:
        _report()


board.deepsleep = _deepsleep

import main  # noqa: E402,F401   the wake: firmware/main.py
