# The offline ring buffer (node.ringbuf) on littlefs v2 over a simulated flash chip, under
# MicroPython: order, durability, acks, capacity and policies, recovery from torn and corrupt
# data, and what it costs the flash.
import os
import struct

from mptest import eq, raises
from node.crc import crc32
from node.ringbuf import SEGMENT, RingBuffer
from simfs import BUF, FlashFS

TIMEOUT = 90


def _segments(path=BUF):
    return sorted(n for n in os.listdir(path) if len(n) == 8)


def _records(rb):
    return rb.peek(len(rb) + 1)


def _rec(i, size=60):
    return (b"%06d" % i + b"." * size)[:size]


def test_sequence_numbers_start_at_one_and_follow_each_other():
    FlashFS()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(len(rb), 0, "empty")
    eq(rb.next_seq, 1, "first seq")
    eq(rb.append(b"a"), 1)
    eq(rb.extend([b"b", b"c", b"d"]), 4, "extend returns the last seq")
    eq(rb.append(b"e"), 5)
    eq(_records(rb), [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d"), (5, b"e")])
    eq(rb.peek(2), [(1, b"a"), (2, b"b")], "peek(n) gives the n oldest")
    eq(rb.peek(0), [], "peek(0)")
    eq(rb.extend([]), None, "extend of nothing")
    eq(rb.extend(iter([b"f", b"g"])), 7, "extend takes any iterable")
    eq(len(rb), 7)


def test_everything_returned_for_survives_a_reboot():
    ffs = FlashFS()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    for i in range(100):
        rb.append(_rec(i))
    rb.extend([_rec(i) for i in range(100, 120)])
    rb.ack(30)
    ffs.reboot()        # power off and on without unmounting first: littlefs's RAM state is lost
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(len(rb), 90, "len after reboot")
    got = _records(rb)
    eq([s for s, _ in got], list(range(31, 121)), "seqs after reboot")
    eq([r for _, r in got], [_rec(i) for i in range(30, 120)], "records after reboot")
    eq(rb.next_seq, 121)
    eq(rb.head, 30)
    eq((rb.dropped, rb.corrupt, rb.torn), (0, 0, 0), "counters")


def test_ack_is_cumulative_durable_and_frees_segments():
    ffs = FlashFS()
    rb = RingBuffer(BUF, 8 * SEGMENT)
    for i in range(200):                    # about four segments of 70-byte records
        rb.append(_rec(i))
    segs = _segments()
    assert len(segs) >= 3, segs
    rb.ack(10)
    eq(rb.peek(1), [(11, _rec(10))], "oldest after ack(10)")
    eq(len(rb), 190)
    ffs.flash.reset_counters()
    rb.ack(5)                               # already acknowledged: nothing to do
    rb.ack(10)
    eq(ffs.flash.counters(), (0, 0, 0), "writes for an ack of what is already acknowledged")
    err = raises(ValueError, rb.ack, 201)
    assert "201" in str(err) and "200" in str(err), str(err)
    rb.ack(120)                             # past the first segments: their files go
    assert _segments()[0] != segs[0] and len(_segments()) < len(segs), _segments()
    eq(rb.peek(1)[0][0], 121)
    ffs.reboot()
    rb = RingBuffer(BUF, 8 * SEGMENT)
    eq(rb.peek(1)[0][0], 121, "an ack is never undone")
    eq(len(rb), 80)


def test_sequence_numbers_keep_growing_after_everything_was_acked():
    ffs = FlashFS()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    rb.extend([b"x"] * 5)
    rb.ack(5)
    eq(_segments(), [], "segment files once everything is acknowledged")
    eq(len(rb), 0)
    eq(rb.append(b"y"), 6)
    rb.ack(6)
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(len(rb), 0)
    eq(rb.next_seq, 7, "next seq after reboot with nothing stored")
    eq(rb.append(b"z"), 7)


def test_drop_oldest_keeps_the_newest_within_capacity():
    FlashFS()
    rb = RingBuffer(BUF, 3 * SEGMENT)       # the default policy
    for i in range(400):
        rb.append(_rec(i))
    assert rb.dropped > 0, "nothing dropped"
    eq(len(rb) + rb.dropped, 400, "stored + dropped")
    got = _records(rb)
    eq(got[-1], (400, _rec(399)), "the newest record is kept")
    eq([s for s, _ in got], list(range(400 - len(got) + 1, 401)), "the kept records are the newest, in order")
    size = sum(os.stat(BUF + "/" + n)[6] for n in _segments())
    assert len(_segments()) <= 3 and size <= 3 * SEGMENT, (_segments(), size)
    assert len(rb) > 2 * SEGMENT // 70, "the oldest segment is dropped only when the buffer is full"


def test_drop_newest_refuses_new_records_and_keeps_the_old():
    FlashFS()
    rb = RingBuffer(BUF, 2 * SEGMENT, "drop_newest")
    seqs = [rb.append(_rec(i)) for i in range(200)]
    refused = seqs.count(None)
    assert refused > 0, "nothing refused"
    eq(rb.dropped, refused)
    stored = 200 - refused
    eq(seqs[:stored], list(range(1, stored + 1)), "the oldest are kept")
    eq(len(rb), stored)
    eq(rb.next_seq, stored + 1, "refused records take no sequence number")
    before = rb.dropped
    eq(rb.extend([_rec(0)] * 3), None, "a batch with no room")
    eq(rb.dropped, before + 3)
    rb.ack(60)                              # frees the first segment
    last = rb.extend([_rec(i) for i in range(100)])
    assert last is not None and rb.dropped > before + 3, (last, rb.dropped)
    eq(_records(rb)[-1][0], last, "the batch's head went in, its tail was refused")


def test_capacity_is_checked_against_the_free_space():
    FlashFS(blocks=16)                      # 64 KB of flash
    err = raises(ValueError, RingBuffer, BUF, 1024 * 1024)
    msg = str(err)
    assert "capacity_bytes" in msg and "free" in msg, msg
    most = int(msg.split("capacity_bytes=")[1].split()[0])
    assert 8192 <= most < 64 * 1024, msg
    rb = RingBuffer(BUF, most)              # what the message suggests fits
    for i in range(2000):
        rb.append(_rec(i))                  # fills it to capacity and beyond: drops, no ENOSPC
    assert rb.dropped > 0


def test_bad_arguments_get_clear_errors():
    FlashFS()
    assert "8192" in str(raises(ValueError, RingBuffer, BUF, 4096))
    assert "drop_oldest" in str(raises(ValueError, RingBuffer, BUF, 4 * SEGMENT, "oldest"))
    rb = RingBuffer(BUF, 2 * SEGMENT)
    assert "encode" in str(raises(TypeError, rb.append, "text"))
    assert "32767" in str(raises(ValueError, rb.append, bytes(32768)))
    assert "capacity_bytes" in str(raises(ValueError, rb.extend, [bytes(4000)] * 3))
    eq(len(rb), 0, "nothing stored by refused calls")
    eq(rb.next_seq, 1)
    with open(BUF + "x", "w") as f:
        f.write("not a directory")
    assert "directory" in str(raises(ValueError, RingBuffer, BUF + "x", 2 * SEGMENT))


def test_records_of_every_size_and_across_blocks():
    ffs = FlashFS(blocks=64)
    rb = RingBuffer(BUF, 48 * SEGMENT)
    sizes = [0, 1, 7, 31, 32, 33, 64, 127, 128, 129, 4085, 4086, 4087, 5000, 12000, 32767]
    for i, size in enumerate(sizes):
        rb.append(bytes((i + j) & 0xFF for j in range(size)))
    rb.extend([bytes([i]) * 1500 for i in range(5)])     # a batch larger than a segment
    ffs.reboot()
    rb = RingBuffer(BUF, 48 * SEGMENT)
    got = _records(rb)
    eq([len(r) for _, r in got], sizes + [1500] * 5, "sizes")
    for i, size in enumerate(sizes):
        assert got[i][1] == bytes((i + j) & 0xFF for j in range(size)), "record %d" % i
    eq(ffs.flash.overprogrammed, 0, "bytes programmed without an erase")


def _segment_bytes(first):
    with open(BUF + "/%08x" % first, "rb") as f:
        return f.read()


def _raw_record(seq, payload, end=True):
    word = len(payload) | (0x8000 if end else 0)
    head = struct.pack("<HI", word, seq)
    return head + struct.pack("<I", crc32(payload, crc32(head))) + payload


def test_torn_last_record_is_discarded():
    # A filesystem without littlefs's atomic commits (FAT, a host) can keep part of a record.
    ffs = FlashFS()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    rb.extend([b"one", b"two", b"three"])
    whole = _segment_bytes(1)
    with open(BUF + "/00000001", "ab") as f:
        f.write(_raw_record(4, b"four" * 10)[:20])          # cut off in the middle
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(_records(rb), [(1, b"one"), (2, b"two"), (3, b"three")])
    eq((rb.torn, rb.corrupt), (1, 0), "(torn, corrupt)")
    eq(_segment_bytes(1), whole, "the segment is cut back to its last commit")
    eq(rb.append(b"four"), 4)
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(_records(rb)[-1], (4, b"four"), "a record appended after a torn one")
    eq(rb.torn, 0)


def test_torn_batch_is_all_or_nothing():
    # Whole records of a batch whose last record (with the end-of-commit mark) never made it.
    ffs = FlashFS()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    rb.append(b"kept")
    with open(BUF + "/00000001", "ab") as f:
        f.write(_raw_record(2, b"batch-a", end=False) + _raw_record(3, b"batch-b", end=False))
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(_records(rb), [(1, b"kept")], "records of an unfinished batch")
    eq(rb.extend([b"x", b"y"]), 3)
    eq(_records(rb), [(1, b"kept"), (2, b"x"), (3, b"y")])


def test_corrupt_record_is_skipped_and_counted():
    ffs = FlashFS()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    for i in range(6):
        rb.append(_rec(i, 40))
    data = bytearray(_segment_bytes(1))
    data[50 + 10 + 5] ^= 0x01          # a bit of record 2's payload (records are 50 bytes)
    data[150] ^= 0xFF                  # record 4's length word
    with open(BUF + "/00000001", "wb") as f:
        f.write(data)
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq([s for s, _ in _records(rb)], [1, 3, 5, 6], "the records left")
    eq(rb.corrupt, 2, "corrupt records")
    eq(len(rb), 4)
    eq(_records(rb)[1], (3, _rec(2, 40)))
    rb.ack(5)
    eq(_records(rb), [(6, _rec(5, 40))])
    eq(rb.append(b"next"), 7)


def test_garbage_empty_and_foreign_files_do_not_raise():
    ffs = FlashFS()
    os.mkdir(BUF)
    with open(BUF + "/00000001", "wb") as f:
        f.write(bytes((i * 37 + 11) & 0xFF for i in range(3000)))     # garbage, named like a segment
    with open(BUF + "/00000900", "wb") as f:
        pass                                                          # zero length
    for name in ("head.a", "head.b"):
        with open(BUF + "/" + name, "wb") as f:
            f.write(b"\x07garbage")
    with open(BUF + "/notes.txt", "w") as f:
        f.write("someone else's file")
    os.mkdir(BUF + "/00000002")                                        # a directory
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(len(rb), 0, "records found in garbage")
    eq(rb.append(b"first"), 1)
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(_records(rb), [(1, b"first")])
    assert "notes.txt" in os.listdir(BUF), "a file the buffer does not own was touched"
    with open(BUF + "/00000003", "wb") as f:
        f.write(b"")
    eq(len(RingBuffer(BUF, 4 * SEGMENT)), 1)


def test_reopen_with_a_smaller_capacity_drops_the_oldest():
    FlashFS()
    rb = RingBuffer(BUF, 6 * SEGMENT)
    for i in range(300):
        rb.append(_rec(i))
    rb = RingBuffer(BUF, 2 * SEGMENT)
    assert rb.dropped > 0 and len(_segments()) <= 2, (rb.dropped, _segments())
    eq(len(rb) + rb.dropped, 300)
    eq(_records(rb)[-1], (300, _rec(299)))


def test_a_failed_write_loses_nothing_and_leaves_a_usable_buffer():
    # The filesystem fills up behind the buffer's back (another file): append raises, and
    # what was stored before stays, in order; once there is room again all works.
    ffs = FlashFS(blocks=16)
    rb = RingBuffer(BUF, 4 * SEGMENT)
    for i in range(50):
        rb.append(_rec(i))
    filler = open("/flash/filler", "wb")
    try:
        chunk = bytes(1024)
        while True:
            filler.write(chunk)
            filler.flush()
    except OSError:
        pass
    filler.close()
    failed = 0
    for i in range(50, 150):
        try:
            rb.append(_rec(i))
        except OSError:
            failed += 1
            break
    assert failed, "the filesystem never filled up"
    got = _records(rb)
    eq(got[:50], [(i + 1, _rec(i)) for i in range(50)], "records stored before the failure")
    os.remove("/flash/filler")
    seq = rb.append(b"after")
    eq(_records(rb)[-1], (seq, b"after"))
    ffs.reboot()
    rb = RingBuffer(BUF, 4 * SEGMENT)
    eq(_records(rb)[-1], (seq, b"after"), "after reboot")
    eq([s for s, _ in _records(rb)], list(range(1, seq + 1)), "no gaps, no duplicates")


def test_an_append_costs_the_record_and_a_bounded_overhead():
    # littlefs copies the written part of a file's last block at each commit: bounded by the
    # segment size, whatever the amount stored; never a rewrite of what is stored.
    ffs = FlashFS(blocks=64)
    rb = RingBuffer(BUF, 40 * SEGMENT)
    flash = ffs.flash
    worst = []
    for stored in (10, 1500):
        while len(rb) < stored:
            rb.append(_rec(len(rb)))
        most = erased = 0
        for i in range(60):
            flash.reset_counters()
            rb.append(_rec(i, 64))
            most = max(most, flash.programmed)
            erased = max(erased, flash.erases)
        worst.append((most, erased))
    for most, erased in worst:
        assert most <= 74 + SEGMENT + 512, worst         # record + a block copied + metadata
        assert erased <= 2, worst
    flash.reset_counters()
    rb.extend([_rec(i, 64) for i in range(8)])
    assert flash.programmed <= 8 * 74 + SEGMENT + 512, flash.programmed


def test_acks_do_not_rewrite_records():
    ffs = FlashFS(blocks=64)
    rb = RingBuffer(BUF, 40 * SEGMENT)
    for i in range(1500):
        rb.append(_rec(i, 64))
    flash = ffs.flash
    flash.reset_counters()
    for seq in range(1, 1001):
        rb.ack(seq)
    programmed, erased = flash.programmed, flash.erases
    assert programmed / 1000 <= 128, "bytes programmed per ack: %d" % (programmed / 1000)
    assert erased <= 1000 // 20, "erases for 1000 acks: %d" % erased


def test_peek_and_ack_do_not_scan_what_is_stored():
    # They start at the oldest record, kept as a position: what they read does not depend on
    # the number of records, only littlefs's name lookup grows with the files in the directory.
    ffs = FlashFS(blocks=64)
    rb = RingBuffer(BUF, 40 * SEGMENT)
    flash = ffs.flash
    read = []
    for stored in (20, 2000):
        while len(rb) < stored:
            rb.extend([_rec(len(rb) + j) for j in range(10)])
        flash.reset_counters()
        for _ in range(5):
            first = rb.peek(8)
            rb.ack(first[0][0])
        read.append(flash.read_bytes / 5)
    # 100 times the records: the reads grow with the directory (1 to 29 segment files), far less.
    assert read[1] < 8 * read[0] and read[1] < 2000 * 70 / 4, \
        "bytes read per peek(8)+ack with 20 and 2000 stored: %r" % read


def test_writes_move_across_the_flash():
    # Space is reused as a ring: segment files are deleted and new ones written, and littlefs
    # allocates fresh blocks in turn, so the erases spread over the whole filesystem.
    ffs = FlashFS(blocks=32)
    rb = RingBuffer(BUF, 8 * SEGMENT)
    for i in range(3000):
        rb.extend([_rec(i, 64)] * 4)
        if i % 3 == 2:
            rb.ack(rb.peek(6)[-1][0])
    wear = [ffs.flash.wear(b) for b in range(32)]
    used = len([w for w in wear if w])
    mean = sum(wear) / 32
    assert used >= 28, "blocks erased: %d of 32 (%r)" % (used, wear)
    assert max(wear) <= 3 * mean, "wear %r" % wear


def test_on_the_host_filesystem_too():
    # The unix port's own filesystem (no littlefs): the same behaviour, used by tools and demos.
    rb = RingBuffer("hostbuf", 3 * SEGMENT)
    eq(rb.extend([b"a", b"b"]), 2)
    rb.ack(1)
    rb = RingBuffer("hostbuf", 3 * SEGMENT)
    eq(_records(rb), [(2, b"b")])
    eq(rb.append(b"c"), 3)
