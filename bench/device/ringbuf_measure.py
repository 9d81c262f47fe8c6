# Runs inside MicroPython (unix port), launched by bench/bench_ringbuf.py; prints one JSON line.
#   ringbuf_measure.py flash <records>          flash cost and speed: ring buffer, naive queue
#   ringbuf_measure.py open <records>            open time and heap with <records> stored
#   ringbuf_measure.py host <dir> <records>      garbage per record scanned at open, on the
#                                                host filesystem (no simulated chip in the way)
#   ringbuf_measure.py littlefs                  what littlefs's own operations cost (the layout's
#                                                grounds): appends to one file, small files
#   ringbuf_measure.py prepare <image> <records> an image file holding a buffer of <records>
#   ringbuf_measure.py use <image> open|none     mount it (and open the buffer, use it): for the
#                                                smallest heap that runs it
# Every filesystem is littlefs v2 with MicroPython's defaults on firmware/sim/simflash.py, 4 KB blocks.
import gc
import json
import sys
import time
import vfs

from simflash import SimFlash
from naive_queue import NaiveQueue
from node.ringbuf import SEGMENT, RingBuffer

MOUNT = "/flash"
BUF = MOUNT + "/rb"
RECORD = 64
CAPACITY = 80 * 1024


def mount(blocks, path=None, fresh=True):
    f = SimFlash(blocks=blocks, path=path)
    if fresh:
        vfs.VfsLfs2.mkfs(f)
    vfs.mount(vfs.VfsLfs2(f), MOUNT)
    return f


def unmount():
    vfs.umount(MOUNT)
    gc.collect()


def record(i):
    return (b"%08d" % i + b"r" * RECORD)[:RECORD]


def fill(q, flash, n, batch):
    flash.reset_counters()
    t = time.ticks_us()
    i = 0
    while i < n:
        if batch == 1:
            q.append(record(i))
        else:
            q.extend([record(i + j) for j in range(batch)])
        i += batch
    us = time.ticks_diff(time.ticks_us(), t)
    return {"programmed": flash.programmed / n, "erases": flash.erases / n, "per_s": n * 1e6 / us}


def drain(q, flash, n):
    flash.reset_counters()
    t = time.ticks_us()
    for _ in range(n):
        q.ack(q.peek(1)[0][0])
    us = time.ticks_diff(time.ticks_us(), t)
    return {"programmed": flash.programmed / n, "erases": flash.erases / n, "per_s": n * 1e6 / us}


def measure_flash(n):
    out = {"records": n, "record_bytes": RECORD, "capacity": CAPACITY}
    for kind in ("ringbuf", "naive"):
        for batch in (1, 8, 16):
            flash = mount(96)
            q = RingBuffer(BUF, CAPACITY) if kind == "ringbuf" else NaiveQueue(MOUNT + "/queue", CAPACITY)
            out["%s_fill_%d" % (kind, batch)] = fill(q, flash, n, batch)
            if kind == "ringbuf":
                assert q.dropped == 0 and len(q) == n, "the outage must fit the buffer"
            if batch == 1:
                out["%s_ack" % kind] = drain(q, flash, n)
            assert flash.overprogrammed == 0
            q = flash = None
            unmount()
    return out


def measure_open(n):
    segments = n // 40 + 4              # batches of 8 records of 74 bytes: 48 to a segment
    flash = mount(segments + 16)
    capacity = segments * SEGMENT
    rb = RingBuffer(BUF, capacity)
    i = 0
    while i < n:
        rb.extend([record(i + j) for j in range(8)])
        i += 8
    assert rb.dropped == 0
    rb = None
    gc.collect()
    t = time.ticks_us()
    rb = RingBuffer(BUF, capacity)
    us = time.ticks_diff(time.ticks_us(), t)
    stored = len(rb)
    rb = None
    gc.collect()
    before = gc.mem_alloc()
    rb = RingBuffer(BUF, capacity)
    gc.collect()
    retained = gc.mem_alloc() - before
    rb = None
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    rb = RingBuffer(BUF, capacity)
    churn = gc.mem_alloc() - before
    gc.enable()
    rb = flash = None
    unmount()
    return {"records": stored, "open_ms": us / 1000, "retained": retained, "garbage_per_record": churn / stored}


def measure_littlefs():
    import os

    def cost(flash, n, fn):
        flash.reset_counters()
        for i in range(n):
            fn(i)
        return {"programmed": flash.programmed / n, "erases": flash.erases / n}

    out = {}
    flash = mount(96)
    rec = record(0) + bytes(10)     # a 64-byte record with a 10-byte header
    for batch in (1, 8, 16):
        f = open(MOUNT + "/log%d" % batch, "ab")

        def commit(i):
            for _ in range(batch):
                f.write(rec)
            f.flush()
        per_commit = cost(flash, 800 // batch, commit)
        f.close()
        out["one_file_%d" % batch] = {k: v / batch for k, v in per_commit.items()}

    def small(i):
        with open(MOUNT + "/small", "wb") as f:
            f.write(rec[:8])
    out["rewrite_8_bytes"] = cost(flash, 300, small)

    def create(i):
        with open(MOUNT + "/c%d" % i, "wb") as f:
            f.write(rec)
    out["create_74_bytes"] = cost(flash, 50, create)
    out["remove"] = cost(flash, 50, lambda i: os.remove(MOUNT + "/c%d" % i))
    flash = None
    unmount()
    return out


def measure_host(path, n):
    rb = RingBuffer(path, (n // 40 + 4) * SEGMENT)
    for i in range(0, n, 8):
        rb.extend([record(i + j) for j in range(8)])
    rb = None
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    rb = RingBuffer(path, (n // 40 + 4) * SEGMENT)
    churn = gc.mem_alloc() - before
    gc.enable()
    return {"records": len(rb), "garbage_per_record": churn / len(rb)}


def prepare(image, n):
    mount(48, image)
    rb = RingBuffer(BUF, 40 * SEGMENT)
    rec = bytearray(20)
    i = 0
    while len(rb) < n and i < 2 * n:
        rec[0] = i & 0xFF
        i += 1
        if i % 4:
            rb.append(rec)
        else:
            rb.extend([rec, rec, rec])
    return {"records": len(rb)}


def use(image, what):
    mount(48, image, fresh=False)
    if what == "open":
        rb = RingBuffer(BUF, 40 * SEGMENT)
        got = rb.peek(8)
        rb.ack(got[-1][0])
        rb.append(b"r" * 20)
        rb.extend([b"s" * 20] * 8)
    return {"ok": True}


def main(argv):
    cmd = argv[1]
    if cmd == "flash":
        res = measure_flash(int(argv[2]))
    elif cmd == "open":
        res = measure_open(int(argv[2]))
    elif cmd == "littlefs":
        res = measure_littlefs()
    elif cmd == "host":
        res = measure_host(argv[2], int(argv[3]))
    elif cmd == "prepare":
        res = prepare(argv[2], int(argv[3]))
    elif cmd == "use":
        res = use(argv[2], argv[3])
    else:
        raise SystemExit("unknown command %r" % cmd)
    print("RESULT " + json.dumps(res))


main(sys.argv)
