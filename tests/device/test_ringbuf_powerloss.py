# Power-loss tests of the ring buffer in littlefs's "linear" mode: littlefs v2 on a simulated
# 4 KB-block flash that cuts the power before its k-th program or erase, for every k of the
# workload in turn; after each cut: power on, mount, reopen, and the buffer must show the state
# before the interrupted step or after it, never anything else (simfs.linear).
from node.ringbuf import RingBuffer
from simfs import linear

TIMEOUT = 120

SEG = 4096


def _run(name, workload, capacity, policy="drop_oldest", drops=False, torn=False):
    n, dropped = linear(workload, capacity, policy, torn=torn)
    print("%s: %d cut points, all recovered (%d records dropped when uninterrupted)" % (name, n, dropped))
    assert n >= 100, "only %d cut points: the workload writes too little to test much" % n
    assert (dropped > 0) == drops, "the workload %s records" % ("drops no" if drops else "drops")


def test_record_sizes_batches_and_acks():
    # Sizes around littlefs's 32-byte program size and its 128-byte inline-file limit,
    # single appends, batches, partial and full acks, then appends after everything was acked.
    workload = [
        ("a", 1), ("a", 7), ("a", 31), ("a", 32), ("a", 33),
        ("e", [1, 7, 31, 32, 33]), ("k", 3),
        ("e", [64] * 8), ("a", 118), ("a", 128), ("a", 129), ("k", 6),
        ("e", [64] * 16), ("a", 0), ("K",),
        ("a", 64), ("e", [33, 32, 31]), ("k", 1),
    ]
    # Single appends across a segment boundary.
    workload += [("a", 250)] * 18 + [("k", 10), ("a", 1)]
    _run("sizes", workload, 4 * SEG)


def test_torn_programs():
    # The same workload with the cut program half written, as when power goes during a page
    # program: littlefs's checksums must reject it, and the buffer must recover as before.
    workload = [
        ("a", 1), ("a", 33), ("e", [1, 7, 31, 32, 33]), ("k", 3), ("e", [64] * 8), ("a", 129),
        ("k", 6), ("e", [64] * 16), ("K",), ("a", 64),
    ] + [("a", 250)] * 18 + [("k", 10), ("a", 1)]
    _run("sizes, torn programs", workload, 4 * SEG, torn=True)


def test_wake_cycles():
    # What the node does: a few readings per wake that could not be delivered, resent later and
    # acknowledged as PUBACKs arrive; sometimes everything goes, sometimes the broker is away.
    # 60-byte readings, a capacity of two segments: the buffer fills and drops the oldest.
    workload = []
    for w in range(75):
        workload.append(("e", [60] * (1 + w % 5)) if w % 4 else ("a", 60))
        if w % 5 == 4:
            workload.append(("k", 1 + w % 3))
        if w == 60:
            workload.append(("K",))
    _run("wake cycles", workload, 2 * SEG, drops=True)


def test_records_straddling_block_boundaries():
    # A batch larger than a segment gets a segment of its own that spans littlefs blocks, so
    # its records straddle block boundaries; so does one record of 5000 bytes. 4086 bytes is the
    # largest record that fills a segment exactly.
    workload = [
        ("a", 100), ("e", [1500, 1500, 1500]), ("a", 64), ("a", 5000),
        ("k", 2), ("a", 4086), ("e", [2000, 2100]), ("k", 3), ("a", 7),
    ]
    _run("straddling", workload, 8 * SEG)


def test_full_buffer_drops_oldest_and_wraps():
    # Capacity of three segments, written several times over: the oldest segment is dropped
    # whole each time the buffer is full, and the ring wraps around the flash.
    workload = [("e", [200] * 10) for _ in range(6)]
    workload[2:2] = [("k", 4)]
    workload += [("a", 300)] * 6 + [("k", 5), ("e", [150] * 12), ("K",), ("a", 9)]
    _run("drop_oldest", workload, 3 * SEG, drops=True)


def test_full_buffer_drop_newest_refuses():
    # drop_newest: once the capacity is used, appends and the tail of batches are refused,
    # what is stored stays; acks make room again.
    workload = [("e", [500] * 7), ("e", [500] * 7), ("a", 500), ("e", [300] * 5),
                ("k", 8), ("a", 500), ("e", [500] * 3), ("K",), ("a", 11)]
    _run("drop_newest", workload, 2 * SEG, policy="drop_newest", drops=True)


def test_linear_harness_catches_a_non_atomic_batch():
    # The harness itself: a buffer that commits each record of a batch on its own must be
    # caught, since a batch cut in the middle is neither the state before nor the one after.
    class Careless(RingBuffer):
        def _write(self, first, records, k):
            start = self._next
            try:
                for i in range(k):
                    RingBuffer._write(self, first, (records[i],), 1)
                    self._next += 1
            finally:
                self._next = start

    try:
        linear([("a", 10), ("e", [40] * 4)], 3 * SEG, factory=Careless)
    except AssertionError as exc:
        assert "neither" in str(exc), str(exc)
    else:
        raise AssertionError("the linear harness accepted a batch committed record by record")
