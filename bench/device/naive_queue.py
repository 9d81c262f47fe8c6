# The reference for the ring buffer's flash cost in whole wakes (bench/bench_node.py): the usual
# first attempt at an offline queue, with the ring buffer's API as node.app uses it. The backlog
# is kept in RAM and in one file that is rewritten whole on every change; records are framed
# as the ring buffer frames them (u16 length, u32 sequence number, u32 CRC-32, payload), so
# both write the same bytes per record. MicroPython; wake_probe.py swaps it in for RingBuffer.
import struct

from node.crc import crc32

_HDR = 10


class NaiveQueue:
    def __init__(self, path, capacity_bytes, policy="drop_oldest"):
        self.path = path.rstrip("/") + ".queue"
        self.capacity = capacity_bytes
        self.items = []
        self.next_seq = 1
        self.dropped = 0
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            data = b""
        off = 0
        while off + _HDR <= len(data):
            length, seq = struct.unpack_from("<HI", data, off)
            rec = bytes(data[off + _HDR:off + _HDR + length])
            self.items.append((seq, rec))
            self.next_seq = seq + 1
            off += _HDR + length

    def __len__(self):
        return len(self.items)

    def _save(self):
        with open(self.path, "wb") as f:
            for seq, rec in self.items:
                head = struct.pack("<HI", len(rec), seq)
                f.write(head)
                f.write(struct.pack("<I", crc32(rec, crc32(head))))
                f.write(rec)

    def _size(self):
        return sum(_HDR + len(r) for _, r in self.items)

    def extend(self, records):
        for rec in records:
            self.items.append((self.next_seq, bytes(rec)))
            self.next_seq += 1
        while self._size() > self.capacity:
            self.items.pop(0)
            self.dropped += 1
        self._save()
        return self.next_seq - 1

    def append(self, record):
        return self.extend((record,))

    def peek(self, n):
        return self.items[:n]

    def ack(self, seq):
        while self.items and self.items[0][0] <= seq:
            self.items.pop(0)
        self._save()
