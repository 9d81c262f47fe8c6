"""Flash-backed offline ring buffer: readings wait here, durable, until the broker has them.

    rb = RingBuffer("/buf", 64 * 1024)      # a directory the buffer owns
    seq = rb.append(b"...")                 # durable when it returns
    last = rb.extend([r1, r2, r3])          # all durable with one commit
    for seq, record in rb.peek(8): ...      # oldest first
    rb.ack(seq)                             # everything up to seq is delivered: it goes
    len(rb), rb.dropped, rb.corrupt

Layout, chosen by measuring littlefs v2 on a 4 KB-block flash (bench/bench_ringbuf.py):
littlefs cannot append in place: every commit of a file (sync/close) erases a fresh block and
copies the part of the file's last block that is already written. So records go to segment
files of at most one block (4096 bytes), named by the sequence number of their first record
(8 hex digits); a commit goes whole into the newest segment if it fits and otherwise starts a
new one, so the copy stays short and a commit never spans two files (littlefs makes a single
file's commit atomic). The last sequence number acknowledged (or dropped) is an 8-byte file,
inline in littlefs's metadata, so an ack costs one small metadata commit and no erase; it is
written to head.a and head.b in turn so that a torn write leaves the other copy. A segment
whose records are all acknowledged is deleted; when the capacity is reached the oldest segment
is deleted whole ("drop_oldest"), or new records are refused ("drop_newest").

Each record: u16 length (bit 15 marks the last record of a commit), u32 sequence number,
u32 CRC-32 of those 6 bytes and the payload, then the payload (little-endian).
Opening scans what is stored (time proportional to it, memory constant): a record that fails
its checks is skipped and counted (``corrupt``), the scan finds the next one by its sequence
number; records after the last end-of-commit mark of a file are a torn commit: discarded, and
the file is cut back to its last commit (copy + rename) so nothing is ever appended after them.

The object holds a few counters and two small buffers, never a list of records.
"""

import os
import struct

from micropython import const

from node.crc import crc32

SEGMENT = const(4096)       # bytes of records per segment file: one littlefs block
MAX_RECORD = const(0x7FFF)  # bytes of payload per record
_HDR = const(10)            # record header: length word, sequence number, CRC-32
_END = const(0x8000)        # length-word flag: last record of its commit
_BUF = const(64)
_DIR = const(0x4000)
_HEADS = ("head.a", "head.b")


def _units(size):
    # Segments a file of `size` bytes counts for against the capacity.
    return (size + SEGMENT - 1) // SEGMENT


def _segment_name(name):
    # First sequence number of a segment file name, or 0 if it is not one.
    if len(name) != 8:
        return 0
    try:
        v = int(name, 16)
    except ValueError:
        return 0
    return v if v > 0 and name == "%08x" % v else 0


class RingBuffer:
    def __init__(self, path, capacity_bytes, policy="drop_oldest"):
        if policy not in ("drop_oldest", "drop_newest"):
            raise ValueError("RingBuffer policy must be 'drop_oldest' or 'drop_newest', not %r" % (policy,))
        if not isinstance(capacity_bytes, int) or capacity_bytes < 2 * SEGMENT:
            raise ValueError("RingBuffer capacity_bytes=%r: give an int of at least %d bytes "
                             "(two %d-byte segments)" % (capacity_bytes, 2 * SEGMENT, SEGMENT))
        self._dir = path.rstrip("/") or "/"
        self._max = capacity_bytes // SEGMENT
        self._drop_oldest = policy == "drop_oldest"
        self.dropped = 0    # records dropped to keep within capacity (or refused) since open
        self.corrupt = 0    # stored records that failed their checks, skipped
        self.torn = 0       # interrupted commits discarded at open
        self._hdr = bytearray(_HDR)
        self._h6 = memoryview(self._hdr)[:6]    # what the CRC covers besides the payload
        self._buf = memoryview(bytearray(_BUF))
        self._broken = False
        # Every attribute is set here, so the object never grows after it is made.
        self._data = None
        self._seq = self._end = self._hsel = self._head = self._next = 0
        self._count = self._units = self._oldest = self._tail = self._tail_size = 0
        self._cur = self._off = 0
        self._mkdir()
        self._recover(True)
        self._check_space()

    # -- public ------------------------------------------------------------
    def __len__(self):
        return self._count

    @property
    def capacity(self):
        """The capacity in bytes: capacity_bytes rounded down to whole segments."""
        return self._max * SEGMENT

    @property
    def head(self):
        """The last sequence number acknowledged or dropped (0: none yet)."""
        return self._head

    @property
    def next_seq(self):
        """The sequence number the next record will get."""
        return self._next

    def append(self, record):
        """Store one record; returns its sequence number once it is durable (None if refused)."""
        return self.extend((record,))

    def extend(self, records):
        """Store records with one commit; returns the last one's sequence number.

        None when nothing was stored (no records, or all refused by "drop_newest"). Under
        "drop_newest" the records that do not fit are refused from the end of the batch.
        """
        if not isinstance(records, (list, tuple)):
            records = tuple(records)
        if not records:
            return None
        self._repair()
        total = 0
        for rec in records:
            if isinstance(rec, str):
                raise TypeError("RingBuffer records are bytes: encode the string first (s.encode())")
            if len(rec) > MAX_RECORD:
                raise ValueError("record of %d bytes is too large: at most %d bytes" % (len(rec), MAX_RECORD))
            total += _HDR + len(rec)
        if _units(total) > self._max:
            raise ValueError("a batch of %d bytes does not fit in a ring buffer of %d bytes: extend in "
                             "smaller batches or give a larger capacity_bytes" % (total, self.capacity))
        k = len(records)
        new = not (self._tail and self._tail_size + total <= SEGMENT)
        if new and self._units + _units(total) > self._max and not self._drop_oldest:
            k, total, new = self._fit(records)
            self.dropped += len(records) - k
            if not k:
                return None
        first = self._next if new else self._tail
        self._write(first, records, k)
        last = self._next + k - 1
        self._next = last + 1
        if not self._count:
            self._cur, self._off = first, (0 if new else self._tail_size)
        self._count += k
        if new:
            self._units += _units(total)
            if not self._oldest:
                self._oldest = first
            self._tail, self._tail_size = first, total
        else:
            self._tail_size += total
        try:
            while self._units > self._max and self._oldest != self._tail:
                self._drop()
        except BaseException:
            self._broken = True
            raise
        return last

    def peek(self, n=1):
        """Up to n of the oldest records not yet acknowledged: a list of (seq, record)."""
        self._repair()
        out = []
        first, off = self._cur, self._off
        while first and len(out) < n:
            f = self._open(first)
            last = 0
            if f is not None:
                try:
                    size = f.seek(0, 2)
                    floor, ceil = first, first + size // _HDR
                    while off < size and len(out) < n:
                        if self._valid(f, off, size, floor, ceil, True):
                            last = self._seq
                            floor = last + 1
                            off = self._end
                            if last > self._head:
                                out.append((last, self._data))
                        else:
                            off = self._resync(f, off + 1, size, floor, ceil)
                            if off < 0:
                                break
                finally:
                    f.close()
                    self._data = None
            if first == self._tail or len(out) >= n:
                break
            first, off = self._succ(first, last + 1), 0
        return out

    def ack(self, seq):
        """Everything up to and including seq is delivered and may go; durable on return."""
        self._repair()
        if seq <= self._head:
            return
        if seq >= self._next:
            raise ValueError("ack(%d): no record with that sequence number was stored yet (the last is %d)"
                             % (seq, self._next - 1))
        try:
            self._write_head(seq)
            self._head = seq
            self._advance(seq)
        except BaseException:
            self._broken = True     # the next call rebuilds the state from flash
            raise

    # -- writing -----------------------------------------------------------
    def _write(self, first, records, k):
        # One commit: all k records go to segment `first` and are synced by close().
        hdr = self._hdr
        seq = self._next
        try:
            f = open(self._name(first), "ab")
            try:
                for i in range(k):
                    rec = records[i]
                    struct.pack_into("<HI", hdr, 0, len(rec) | (_END if i == k - 1 else 0), seq + i)
                    struct.pack_into("<I", hdr, 6, crc32(rec, crc32(self._h6)))
                    f.write(hdr)
                    f.write(rec)
            finally:
                f.close()
        except BaseException:
            # The file may hold part of this commit now: the next call rebuilds the state from
            # flash, which discards a commit without its end mark.
            self._broken = True
            raise

    def _fit(self, records):
        # drop_newest: how many records from the start of the batch fit, and where.
        room_tail = SEGMENT - self._tail_size if self._tail else 0
        room_new = (self._max - self._units) * SEGMENT
        k = total = 0
        for rec in records:
            t = total + _HDR + len(rec)
            if t > room_tail and t > room_new:
                break
            k, total = k + 1, t
        return k, total, total > room_tail

    def _drop(self):
        # Drop the oldest segment whole: first record its last sequence number as the head
        # (so sequence numbers never go back), then delete it.
        first = self._oldest
        size, end, last, live, cur, bad = self._scan(first, self._head)
        if last > self._head:
            self._write_head(last)
            self._head = last
        self._remove(first, size)
        self.dropped += live
        self._count -= live
        self._oldest = self._succ(first, last + 1)
        self._cur, self._off = (self._oldest, 0) if self._count else (0, 0)

    def _advance(self, seq):
        # Move the read position past records <= seq, deleting segments left behind.
        first, off = self._cur, self._off
        while first and self._count:
            f = self._open(first)
            last = 0
            if f is None:       # gone (removed by someone else): nothing to read or delete
                first, off = self._succ(first, 0), 0
                continue
            try:
                size = f.seek(0, 2)
                floor, ceil = first, first + size // _HDR
                while off < size:
                    if self._valid(f, off, size, floor, ceil, False):
                        if self._seq > seq:
                            break
                        last = self._seq
                        floor = last + 1
                        off = self._end
                        self._count -= 1
                    else:
                        off = self._resync(f, off + 1, size, floor, ceil)
                        if off < 0:
                            off = size
            finally:
                f.close()
            if off < size:
                break
            # Every record of this segment is acknowledged: it goes.
            self._remove(first, size)
            if first == self._tail:
                first = 0
                break
            first, off = self._succ(first, last + 1), 0
        if not first:
            # No segment left: whatever len() still counted was found corrupt on the way.
            self._count = 0
        if not self._count:
            first, off = 0, 0
        self._cur, self._off = first, off
        self._oldest = first or (self._tail if self._units else 0)

    def _remove(self, first, size):
        os.remove(self._name(first))
        self._units -= _units(size)
        if first == self._tail:
            self._tail, self._tail_size = 0, 0
        if first == self._oldest:
            self._oldest = 0

    # -- head (acknowledged) -------------------------------------------------
    def _load_head(self):
        vals = [0, 0]
        b = self._buf
        for i in (0, 1):
            try:
                with open(self._dir + "/" + _HEADS[i], "rb") as f:
                    n = f.readinto(b)
                if n == 8 and crc32(b[:4]) == struct.unpack_from("<I", b, 4)[0]:
                    vals[i] = struct.unpack_from("<I", b, 0)[0]
            except OSError:
                pass
        self._head = max(vals)
        self._hsel = 0 if vals[0] <= vals[1] else 1   # overwrite the older copy first

    def _write_head(self, seq):
        b = self._buf
        struct.pack_into("<I", b, 0, seq)
        struct.pack_into("<I", b, 4, crc32(b[:4]))
        with open(self._dir + "/" + _HEADS[self._hsel], "wb") as f:
            f.write(b[:8])
        self._hsel ^= 1

    # -- reading -------------------------------------------------------------
    def _name(self, first):
        return "%s/%08x" % (self._dir, first)

    def _open(self, first):
        try:
            return open(self._name(first), "rb")
        except OSError:
            return None

    def _valid(self, f, off, size, floor, ceil, want):
        # Is there a whole, intact record at `off` with floor <= seq <= ceil? False if not,
        # else _END if it ends a commit, True if not; sets _seq, _end and, if `want`, _data
        # (the payload). Allocates little: this runs for every record stored when a buffer opens.
        if off + _HDR > size:
            return False
        h = self._hdr
        f.seek(off)
        if f.readinto(h) != _HDR:
            return False
        word = h[0] | h[1] << 8
        n = word & MAX_RECORD
        seq = h[2] | h[3] << 8 | h[4] << 16 | h[5] << 24
        if off + _HDR + n > size or seq < floor or seq > ceil:
            return False
        crc = crc32(self._h6)
        if want:
            data = f.read(n)
            if len(data) != n:
                return False
            crc = crc32(data, crc)
            self._data = data
        else:
            left = n
            while left:
                buf = self._buf if left >= _BUF else self._buf[:left]
                if f.readinto(buf) != len(buf):
                    return False
                crc = crc32(buf, crc)
                left -= len(buf)
        if crc != h[6] | h[7] << 8 | h[8] << 16 | h[9] << 24:
            return False
        self._seq = seq
        self._end = off + _HDR + n
        return word & _END or True

    def _resync(self, f, off, size, floor, ceil):
        # After a bad record: the next offset holding a valid record, or -1.
        while off + _HDR <= size:
            if self._valid(f, off, size, floor, ceil, False):
                return off
            off += 1
        return -1

    def _scan(self, first, head):
        # Read a whole segment: (size, end of its last commit, last committed seq,
        # committed records > head, offset of the first of those, corrupt stretches before the end).
        f = self._open(first)
        if f is None:
            return 0, 0, 0, 0, -1, 0
        try:
            size = f.seek(0, 2)
            off = end = last = live = clive = bad = cbad = 0
            cur = -1
            floor, ceil = first, first + size // _HDR
            while off < size:
                ok = self._valid(f, off, size, floor, ceil, False)
                if ok:
                    seq = self._seq
                    if seq > head:
                        live += 1
                        if cur < 0:
                            cur = off
                    floor = seq + 1
                    off = self._end
                    if ok == _END:
                        end, last, clive, cbad = off, seq, live, bad
                else:
                    off = self._resync(f, off + 1, size, floor, ceil)
                    if off < 0:
                        break
                    bad += 1
        finally:
            f.close()
        if cur >= end:
            cur = -1
        return size, end, last, clive, cur, cbad

    def _succ(self, first, hint):
        # The segment after `first`: normally named by the seq after its last record.
        if hint > first:
            try:
                os.stat(self._name(hint))      # a stat allocates less than an open file
                return hint
            except OSError:
                pass
        best = 0
        for e in os.ilistdir(self._dir):
            s = _segment_name(e[0])
            if s > first and (not best or s < best) and e[1] != _DIR:
                best = s
        return best

    # -- open ----------------------------------------------------------------
    def _mkdir(self):
        try:
            if os.stat(self._dir)[0] & _DIR:
                return
        except OSError:
            os.mkdir(self._dir)
            return
        raise ValueError("RingBuffer path %r is a file: give the path of a directory for the buffer" % self._dir)

    def _repair(self):
        if self._broken:
            self._recover(False)

    def _recover(self, first_time):
        # Rebuild the state from what is on flash (at open, or after a failed write).
        d = self._dir
        oldest = newest = 0
        tmp = None
        for e in os.ilistdir(d):
            name = e[0]
            if name.endswith(".tmp"):
                tmp = name
            s = _segment_name(name)
            if s and e[1] != _DIR:
                if not oldest or s < oldest:
                    oldest = s
                if s > newest:
                    newest = s
        if tmp:
            os.remove(d + "/" + tmp)    # an interrupted cut (below): the segment is still whole
        self._load_head()
        head = self._head
        self._count = self._units = self._oldest = self._tail = self._tail_size = 0
        self._cur = self._off = 0
        top = head
        first = oldest
        while first:
            size, end, last, live, cur, bad = self._scan(first, head)
            if first_time:
                self.corrupt += bad
            if end < size:
                self.torn += 1
            if last > top:
                top = last
            if not live:
                # Nothing to keep: all acknowledged, empty, garbage, or a torn commit alone.
                os.remove(self._name(first))
            else:
                if end < size:
                    self._cut(first, end)
                    size = end
                self._count += live
                self._units += _units(size)
                if not self._oldest:
                    self._oldest, self._cur, self._off = first, first, cur
                self._tail, self._tail_size = first, size
            if first >= newest:
                break
            first = self._succ(first, last + 1)
        self._next = top + 1
        self._broken = False
        while self._units > self._max and self._oldest:
            self._drop()    # capacity lowered since the last open, or a drop interrupted

    def _cut(self, first, end):
        # Keep only the first `end` bytes of a segment: copy them and rename over it (atomic
        # on littlefs), so that later commits never follow a torn one.
        name = self._name(first)
        tmp = name + ".tmp"
        mv = self._buf
        with open(name, "rb") as src, open(tmp, "wb") as dst:
            left = end
            while left:
                got = src.readinto(mv[:min(left, _BUF)])
                if not got:
                    break
                dst.write(mv[:got])
                left -= got
        try:
            os.rename(tmp, name)
        except OSError:     # filesystems whose rename does not replace (FAT)
            os.remove(name)
            os.rename(tmp, name)

    def _check_space(self):
        st = os.statvfs(self._dir)
        free = (st[1] or st[0]) * st[4]
        # Room for the capacity not yet used, one segment written before the oldest is
        # dropped, and one block for littlefs's copy-on-write of a segment's last block.
        need = (self._max - self._units + 2) * SEGMENT
        if free < need:
            most = (free // SEGMENT - 2 + self._units) * SEGMENT
            raise ValueError(
                "RingBuffer(%r, %d): the filesystem has %d bytes free but the buffer needs %d more "
                "(its capacity plus %d bytes of working room): give capacity_bytes=%d or less, "
                "or free space on the filesystem" % (self._dir, self.capacity, free, need, 2 * SEGMENT,
                                                     max(most, 0)))
