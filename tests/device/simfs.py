# Test helpers: littlefs v2 on a simulated flash chip, and littlefs-style "linear" power-loss runs
# of RingBuffer workloads. Used by the test_ringbuf*.py device tests.
import os
import vfs

from simflash import PowerCut, SimFlash
from node.crc import crc32
from node.ringbuf import SEGMENT, RingBuffer

MOUNT = "/flash"
BUF = MOUNT + "/rb"


class FlashFS:
    """A SimFlash formatted with littlefs v2 (MicroPython's defaults) and mounted at /flash."""

    def __init__(self, blocks=32):
        self.flash = SimFlash(blocks=blocks)
        vfs.VfsLfs2.mkfs(self.flash)
        self.formatted = self.flash.snapshot()
        self.fs = None
        self.mount()

    def mount(self):
        self.fs = vfs.VfsLfs2(self.flash)
        vfs.mount(self.fs, MOUNT)

    def unmount(self):
        try:
            vfs.umount(MOUNT)
        except OSError:
            pass
        self.fs = None

    def reboot(self):
        """Power on again and mount, as a board does after a reset or a power loss."""
        self.unmount()
        self.flash = self.flash.power_on()
        self.mount()

    def reformat(self):
        """Back to the freshly formatted chip (not counted as writes), mounted."""
        self.unmount()
        self.flash = self.flash.power_on()
        self.flash.restore(self.formatted)
        self.mount()


def payload(op, i, size):
    # Distinct, checkable bytes for record i of operation op.
    b = bytearray(size)
    for j in range(size):
        b[j] = (op * 31 + i * 7 + j) & 0xFF
    return bytes(b)


def apply(rb, op_index, op):
    """Run one workload step on rb. Steps:
    ("a", size)        append one record
    ("e", [sizes])     extend with one record of each size
    ("k", n)           ack the n oldest records (through the seq of the n-th)
    ("K",)             ack everything stored
    """
    kind = op[0]
    if kind == "a":
        return rb.append(payload(op_index, 0, op[1]))
    if kind == "e":
        return rb.extend([payload(op_index, i, s) for i, s in enumerate(op[1])])
    if kind == "k" or kind == "K":
        got = rb.peek(op[1] if kind == "k" else len(rb))
        if got:
            rb.ack(got[-1][0])
        return None
    raise ValueError("unknown workload step %r" % (op,))


def state(rb):
    """What the buffer shows: (len, next_seq, first seq, last seq, CRC of every (seq, record))."""
    items = rb.peek(len(rb) + 1)
    if len(items) != len(rb):
        raise AssertionError("len() is %d but peek returned %d records" % (len(rb), len(items)))
    c = 0
    prev = 0
    for seq, rec in items:
        if seq <= prev:
            raise AssertionError("sequence numbers out of order: %d after %d" % (seq, prev))
        prev = seq
        c = crc32(rec, crc32(b"%d:" % seq, c))
    return (len(items), rb.next_seq, items[0][0] if items else 0, prev, c)


def linear(workload, capacity, policy="drop_oldest", blocks=32, factory=RingBuffer, torn=False, log=None):
    """littlefs's "linear" power-loss test of a RingBuffer workload.

    Runs the workload once to record the state after every step and to count its write points
    (programs and erases, opening included). Then, for each write point k in turn: back to the
    formatted chip, run the workload with the power cut before write point k (torn: during it,
    half of that program happens), power on, mount, reopen, and require the state to be that
    before the interrupted step or that after it (all or nothing), with every earlier step
    durable, no record reported corrupt (littlefs never shows a torn write) and the files within
    the capacity; then the reopened buffer must take a new record with the next sequence number.
    Returns (number of cut points, records dropped by the uninterrupted run).
    """
    ffs = FlashFS(blocks)
    start = ffs.flash.write_points
    rb = factory(BUF, capacity, policy)
    golden = [state(rb)]
    for i, op in enumerate(workload):
        apply(rb, i, op)
        golden.append(state(rb))
    if ffs.flash.overprogrammed:
        raise AssertionError("littlefs programmed bytes that were not erased")
    total = ffs.flash.write_points - start
    dropped = rb.dropped
    assert total > 0

    for k in range(total + 1):
        ffs.reformat()
        ffs.flash.cut_power(after=k, torn=torn)
        done = 0
        try:
            rb = factory(BUF, capacity, policy)
            for i, op in enumerate(workload):
                apply(rb, i, op)
                done = i + 1
            cut = False
        except PowerCut:
            cut = True
        if cut != (k < total):
            raise AssertionError("cut point %d of %d: power cut %s" % (k, total, "happened" if cut else "missed"))
        ffs.reboot()
        rb = factory(BUF, capacity, policy)
        got = state(rb)
        before = golden[done]
        after = golden[done + 1] if done + 1 < len(golden) else before
        if got != before and got != after:
            raise AssertionError(
                "cut point %d of %d, during step %d %r: state %r is neither %r (before) nor %r (after)"
                % (k, total, done, workload[done] if done < len(workload) else None, got, before, after))
        if rb.corrupt:
            raise AssertionError("cut point %d: %d records reported corrupt" % (k, rb.corrupt))
        used = sum((os.stat(BUF + "/" + n)[6] + SEGMENT - 1) // SEGMENT for n in os.listdir(BUF) if len(n) == 8)
        if used > capacity // SEGMENT:
            raise AssertionError("cut point %d: segment files take %d segments, capacity %d" % (k, used, capacity))
        # Sequence numbers go on from there: above everything handed out before the cut.
        seq = rb.append(b"after power loss")
        if seq is not None:
            if seq != got[1]:
                raise AssertionError("cut point %d: new record got seq %d, next_seq said %d" % (k, seq, got[1]))
            if rb.peek(len(rb))[-1] != (seq, b"after power loss"):
                raise AssertionError("cut point %d: the record appended after recovery is not the newest" % k)
        if log and k % 100 == 0:
            log("cut %d/%d" % (k, total))
    ffs.unmount()
    return total + 1, dropped
