# A simulated NOR flash chip: the block device the unix board mounts littlefs v2 on. Lean on
# purpose: it stands in for a board's flash driver, whose code takes no heap, inside the board
# emulators' heap budgets. simflash.SimFlash adds what tests need (power sessions, snapshots).
#
# MicroPython's block-device protocol, extended interface (docs: vfs.AbstractBlockDev), as
# littlefs v2 drives it (extmod/vfs_lfsx.c): readblocks(n, buf, off=0); writeblocks(n, buf,
# off) programs without erasing (littlefs erases first with ioctl 6), and without `off` (the
# simple interface) erases the whole blocks it writes; ioctl 1 init, 2 shutdown, 3 sync, 4
# block count, 5 block size, 6 erase block `arg`.
#
# Like NOR flash, an erase sets a block to 0xFF and a program only clears bits (new = old &
# data); bytes programmed without an erase are counted in `overprogrammed` (littlefs never
# does it). Counters: programs, programmed (bytes), erases, reads, read_bytes; wear[n], the
# erases of block n (RAM chips only). write_points counts every program and erase ever made.
# Power loss: with cut_at = k, write point k and every one after it raise PowerCut and change
# nothing (torn: write point k, a program, reaches the chip in part, its first half). full:
# every program and erase fails as on a worn-out chip (littlefs then raises OSError).
#
# Storage: RAM by default; with `path`, that image file, read and written in place, so that
# the next process (a wake after deep sleep) finds the chip as the last one left it.
import array

_CHUNK = 64     # bytes compared or erased at a time: keeps the simulator's own heap small
_ENOSPC = 28


class PowerCut(Exception):
    """The simulated chip lost power: this program or erase did not happen."""


class Chip:
    def __init__(self, blocks=64, block_size=4096, path=None):
        if blocks < 2 or block_size < _CHUNK or block_size & (block_size - 1):
            raise ValueError("a simulated flash chip needs at least 2 blocks and a power-of-two "
                             "block size of %d or more" % _CHUNK)
        self.blocks = blocks
        self.block_size = block_size
        self.blank = memoryview(b"\xff" * _CHUNK)
        self.scratch = memoryview(bytearray(_CHUNK))
        self.mem = self.file = None
        self.write_points = self.programs = self.programmed = self.erases = 0
        self.reads = self.read_bytes = self.overprogrammed = 0
        self.cut_at = -1            # write point before which the power goes (-1: never)
        self.torn = False           # whether that write point is a program that half happens
        self.powered = True
        self.full = False
        if path:
            self.wear = None
            size = blocks * block_size
            try:
                f = open(path, "r+b")
            except OSError:
                f = open(path, "w+b")
                for _ in range(size // _CHUNK):
                    f.write(self.blank)
            if f.seek(0, 2) != size:
                f.close()
                raise ValueError("%s is not a flash image of %d blocks of %d bytes: delete it, or "
                                 "give the blocks and block_size it was made with"
                                 % (path, blocks, block_size))
            self.file = f
        else:
            self.wear = array.array("I", bytes(4 * blocks))
            self.mem = memoryview(bytearray(blocks * block_size))
            for a in range(0, blocks * block_size, _CHUNK):
                self.mem[a:a + _CHUNK] = self.blank

    # --- the contents ---

    def load(self, addr, buf):
        if self.mem is not None:
            buf[:] = self.mem[addr:addr + len(buf)]
        else:
            self.file.seek(addr)
            self.file.readinto(buf)

    def store(self, addr, data):
        if self.mem is not None:
            self.mem[addr:addr + len(data)] = data
        else:
            self.file.seek(addr)
            self.file.write(data)

    def _addr(self, n, off, length):
        if n < 0 or off < 0 or off + length > (self.blocks - n) * self.block_size:
            raise ValueError("flash access out of range: block %d offset %d length %d"
                             % (n, off, length))
        return n * self.block_size + off

    def _write_point(self):
        if self.full:
            raise OSError(_ENOSPC, "simulated flash refuses every write")
        if not self.powered or self.write_points == self.cut_at:
            self.powered = False
            raise PowerCut("simulated power loss before write point %d" % self.write_points)
        self.write_points += 1

    # --- the block device protocol ---

    def readblocks(self, n, buf, off=0):
        self.load(self._addr(n, off, len(buf)), buf)
        self.reads += 1
        self.read_bytes += len(buf)
        return 0

    def writeblocks(self, n, buf, off=None):
        if off is None:
            # The simple interface: whole blocks, erased by this call.
            for i in range(len(buf) // self.block_size):
                self.erase(n + i)
            off = 0
        addr = self._addr(n, off, len(buf))
        data = memoryview(buf)
        torn = self.torn and self.powered and self.write_points == self.cut_at and len(data) > 1
        if torn:
            data = data[:len(data) // 2]    # the power goes halfway through this program
            self.powered = False
        else:
            self._write_point()
        done = 0
        old_all = self.scratch
        blank = self.blank
        while done < len(data):
            chunk = data[done:done + _CHUNK]
            k = len(chunk)
            old = old_all[:k]
            self.load(addr + done, old)
            if old != blank[:k]:
                # NOR flash: a program only clears bits.
                for i in range(k):
                    if old[i] != 0xFF:
                        self.overprogrammed += 1
                    old[i] &= chunk[i]
                chunk = old
            self.store(addr + done, chunk)
            done += k
        if torn:
            raise PowerCut("simulated power loss during write point %d" % self.write_points)
        self.programs += 1
        self.programmed += len(data)
        return 0

    def erase(self, n):
        addr = self._addr(n, 0, self.block_size)
        self._write_point()
        for a in range(addr, addr + self.block_size, _CHUNK):
            self.store(a, self.blank)
        self.erases += 1
        if self.wear is not None:
            self.wear[n] += 1

    def ioctl(self, op, arg):
        if op == 4:     # block count
            return self.blocks
        if op == 5:     # block size
            return self.block_size
        if op == 6:     # erase block `arg`
            self.erase(arg)
            return 0
        if op in (1, 2, 3):     # init, shutdown, sync: nothing to do for this chip
            return 0
        return None
