# The ring buffer's RAM: a fixed few hundred bytes whatever it stores, and it works in a small,
# fragmented heap. The heap cap leaves room to compile the modules from source (on a board they
# are frozen or .mpy); the test then fills the heap with ballast until no 1 KB block is left and
# about 14 KB remain, in smaller holes, before it opens a buffer of 4000 records and uses it.
# The flash is an image file, so the stored records take no heap. Figures: bench/bench_ringbuf.py.
import gc
import vfs

from mptest import eq
from simflash import SimFlash
from node.ringbuf import SEGMENT, RingBuffer

HEAPSIZE = 100000
TIMEOUT = 60

BUF = "/flash/rb"


def _store(records, blocks=48):
    f = SimFlash(blocks=blocks, path="chip%d.img" % records)
    vfs.VfsLfs2.mkfs(f)
    vfs.mount(vfs.VfsLfs2(f), "/flash")
    rb = RingBuffer(BUF, 40 * SEGMENT)
    rec = bytearray(20)     # a reading: number, time, three values (node.reading)
    i = 0
    while len(rb) < records:
        rec[0] = i & 0xFF
        i += 1
        if i % 4:
            rb.append(rec)
        else:
            rb.extend([rec, rec, rec])
    return len(rb)


def _retained():
    gc.collect()
    before = gc.mem_alloc()
    rb = RingBuffer(BUF, 40 * SEGMENT)
    gc.collect()
    return gc.mem_alloc() - before, rb


def test_fixed_memory_whatever_is_stored():
    sizes = []
    for records in (40, 4000):
        stored = _store(records)
        size, rb = _retained()
        eq(len(rb), stored, "records")
        sizes.append(size)
        del rb
        vfs.umount("/flash")
    assert sizes[0] == sizes[1], "heap kept by an open buffer with 40 and 4000 records: %r" % sizes
    assert sizes[1] <= 1024, "heap kept by an open buffer: %d bytes" % sizes[1]


def test_works_in_a_small_fragmented_heap():
    stored = _store(4000)
    gc.collect()
    ballast = [None] * 256
    k = 0
    for size in (16384, 4096, 1024, 512):
        # Whole blocks of 1 KB and more go; then 512-byte ones until about 14 KB are left.
        while k < len(ballast) and (size > 512 or gc.mem_free() > 14000):
            try:
                ballast[k] = bytearray(size)
            except MemoryError:
                break
            k += 1
    gc.collect()
    free = gc.mem_free()
    assert free < 16000, "the ballast left %d bytes free: the test would prove little" % free
    rb = RingBuffer(BUF, 40 * SEGMENT)
    eq(len(rb), stored)
    oldest = rb.peek(8)
    eq(len(oldest), 8)
    rb.ack(oldest[-1][0])
    seq = rb.append(b"r" * 20)
    last = rb.extend([b"s" * 20] * 8)
    eq(last, seq + 8)
    eq(len(rb), stored - 8 + 9)
    print("ran with %d bytes of heap free, no 1 KB block" % free)
    del ballast
