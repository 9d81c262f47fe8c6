"""A simulated NOR flash chip for the unix board: a block device for littlefs.

It follows MicroPython's block-device protocol, extended interface (docs: vfs.AbstractBlockDev),
as littlefs v2 drives it (extmod/vfs_lfsx.c):

- ``readblocks(n, buf, off=0)`` reads len(buf) bytes at byte ``off`` of block n;
- ``writeblocks(n, buf, off)`` programs len(buf) bytes at ``off`` and never erases (littlefs
  erases first with ioctl 6); without ``off`` (the simple interface) it erases the whole blocks
  it writes, as the protocol requires;
- ``ioctl(op, arg)``: 1 init, 2 shutdown, 3 sync (0); 4 block count; 5 block size;
  6 erase block ``arg`` (0).

Like NOR flash, an erase sets a block to 0xFF and a program can only clear bits (new = old & data);
programming bytes that were not erased is counted in ``overprogrammed`` (littlefs never does it,
so a test can assert that it stays 0).

Counters, for benchmarks and tests: ``programs`` (writeblocks calls), ``programmed`` (bytes),
``erases``, ``reads``, ``read_bytes``; ``counters()`` gives (programs, programmed, erases) and
``reset_counters()`` zeroes them all. ``wear(n)`` is how often block n was erased.

Power loss: ``cut_power(after=k)`` lets k more programs/erases reach the chip; the next one, and
every one after it, raises PowerCut and changes nothing, as if the board lost power just before
it. With ``torn=True`` the k-th program reaches the chip only in part (its first half) before the
power goes, as a real program interrupted midway. ``power_on()`` returns the block device of the next power session, to mount again (littlefs's
RAM state of the old mount is gone, as on a board). The old object is dead from then on: all its
I/O fails with EIO and changes nothing, so file objects of the old mount that the garbage
collector finalises later cannot write to the chip (MicroPython prints their EIO).
``write_points`` counts every program and erase ever made (never reset): run a workload once to
learn how many it makes, then cut before each in turn (littlefs's "linear" power-loss testing).
``snapshot()``/``restore(image)`` save and put back the contents (not counted).

Storage: RAM (a bytearray) by default. With ``path`` the chip is that image file instead, read
and written in place and never held in RAM: a later process (a reboot or a wake from deep sleep
of the simulated board) finds the chip as the last one left it, even when it was killed. A
missing file is created erased; an existing one must have the size blocks * block_size.

    flash = SimFlash(blocks=64)
    vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), "/flash")
"""

import array
import gc

_EIO = -5
_CHUNK = 256    # bytes compared or erased at a time: keeps the simulator's own heap small


class PowerCut(Exception):
    """The simulated chip lost power: this program or erase did not happen."""


class _Chip:
    # The chip itself: contents, counters and the power-cut trigger, shared by the power
    # sessions (SimFlash objects) of one simulated board.
    def __init__(self, blocks, block_size, path):
        self.blocks = blocks
        self.block_size = block_size
        self.blank = memoryview(b"\xff" * _CHUNK)
        self.scratch = memoryview(bytearray(_CHUNK))
        self.mem = None
        self.file = None
        if path:
            self.open_image(path)
        else:
            self.mem = memoryview(bytearray(blocks * block_size))
            for a in range(0, blocks * block_size, _CHUNK):
                self.mem[a:a + _CHUNK] = self.blank
        self.write_points = 0
        self.cut_at = -1            # write point before which the power goes (-1: never)
        self.torn = False           # whether that write point is a program that half happens
        self.wear = array.array("I", bytes(4 * blocks))
        self.programs = self.programmed = self.erases = 0
        self.reads = self.read_bytes = self.overprogrammed = 0

    def open_image(self, path):
        size = self.blocks * self.block_size
        try:
            f = open(path, "r+b")
        except OSError:
            f = open(path, "w+b")
            for _ in range(size // _CHUNK):
                f.write(self.blank)
        if f.seek(0, 2) != size:
            f.close()
            raise ValueError("%s is not a flash image of %d blocks of %d bytes: delete it, or pass the "
                             "blocks and block_size it was made with" % (path, self.blocks, self.block_size))
        self.file = f

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

    def erase(self, addr):
        for a in range(addr, addr + self.block_size, _CHUNK):
            self.store(a, self.blank)

    def program(self, addr, data):
        # len(data) <= _CHUNK
        n = len(data)
        old = self.scratch[:n]
        self.load(addr, old)
        if old == self.blank[:n]:
            self.store(addr, data)      # the usual case: programming erased bytes
            return
        # NOR flash: a program only clears bits.
        for i in range(n):
            if old[i] != 0xFF:
                self.overprogrammed += 1
            old[i] &= data[i]
        self.store(addr, old)


class SimFlash:
    def __init__(self, blocks=64, block_size=4096, path=None, _chip=None):
        if _chip is None:
            if blocks < 2 or block_size < _CHUNK or block_size & (block_size - 1):
                raise ValueError("SimFlash needs at least 2 blocks and a power-of-two block size "
                                 "of %d or more" % _CHUNK)
            _chip = _Chip(blocks, block_size, path)
        self._chip = _chip
        self.blocks = _chip.blocks
        self.block_size = _chip.block_size
        self.powered = True     # False once the power is cut in this session
        self._live = True       # False once a later session has started

    # -- power ---------------------------------------------------------------
    def cut_power(self, after=0, torn=False):
        """Let `after` more programs/erases happen, then lose power before (torn: during) the next."""
        self._chip.cut_at = self._chip.write_points + after
        self._chip.torn = torn

    def power_on(self):
        """End this power session; returns the block device of the next one (mount it again)."""
        self._live = False
        gc.collect()    # finalise the old mount's orphaned files now, while they cannot write
        self._chip.cut_at = -1
        return SimFlash(_chip=self._chip)

    def _write_point(self):
        chip = self._chip
        if not self.powered or chip.write_points == chip.cut_at:
            self.powered = False
            raise PowerCut("simulated power loss before write point %d" % chip.write_points)
        chip.write_points += 1

    # -- counters ------------------------------------------------------------
    @property
    def write_points(self):
        return self._chip.write_points

    @property
    def programs(self):
        return self._chip.programs

    @property
    def programmed(self):
        return self._chip.programmed

    @property
    def erases(self):
        return self._chip.erases

    @property
    def reads(self):
        return self._chip.reads

    @property
    def read_bytes(self):
        return self._chip.read_bytes

    @property
    def overprogrammed(self):
        return self._chip.overprogrammed

    def reset_counters(self):
        c = self._chip
        c.programs = c.programmed = c.erases = c.reads = c.read_bytes = c.overprogrammed = 0

    def counters(self):
        """(programs, bytes programmed, erases) since reset_counters()."""
        c = self._chip
        return c.programs, c.programmed, c.erases

    def wear(self, n):
        """How often block n was erased since the chip was made."""
        return self._chip.wear[n]

    # -- contents --------------------------------------------------------------
    def snapshot(self):
        """The whole chip's contents as bytes (for restore())."""
        image = bytearray(self.blocks * self.block_size)
        self._chip.load(0, memoryview(image))
        return bytes(image)

    def restore(self, image):
        """Put back contents from snapshot(); not counted, not subject to power cuts."""
        if len(image) != self.blocks * self.block_size:
            raise ValueError("image of %d bytes does not fit this chip" % len(image))
        self._chip.store(0, image)

    def close(self):
        """Close the image file (file-backed chips)."""
        if self._chip.file is not None:
            self._chip.file.close()
            self._chip.file = None

    # -- block device protocol -----------------------------------------------
    def _addr(self, n, off, length):
        if n < 0 or off < 0 or off + length > (self.blocks - n) * self.block_size:
            raise ValueError("flash access out of range: block %d offset %d length %d" % (n, off, length))
        return n * self.block_size + off

    def readblocks(self, n, buf, off=0):
        if not self._live:
            return _EIO
        chip = self._chip
        chip.load(self._addr(n, off, len(buf)), buf)
        chip.reads += 1
        chip.read_bytes += len(buf)
        return 0

    def writeblocks(self, n, buf, off=None):
        if not self._live:
            return _EIO
        if off is None:
            # Simple interface: whole blocks, erased by this call.
            for i in range(len(buf) // self.block_size):
                self._erase(n + i)
            off = 0
        addr = self._addr(n, off, len(buf))
        chip = self._chip
        data = memoryview(buf)
        torn = chip.torn and self.powered and chip.write_points == chip.cut_at and len(data) > 1
        if torn:
            data = data[:len(data) // 2]    # the power goes halfway through this program
            self.powered = False
        else:
            self._write_point()
        done = 0
        while done < len(data):
            chunk = data[done:done + _CHUNK]
            chip.program(addr + done, chunk)
            done += len(chunk)
        if torn:
            raise PowerCut("simulated power loss during write point %d" % chip.write_points)
        chip.programs += 1
        chip.programmed += len(data)
        return 0

    def _erase(self, n):
        addr = self._addr(n, 0, self.block_size)
        self._write_point()
        chip = self._chip
        chip.erase(addr)
        chip.erases += 1
        chip.wear[n] += 1

    def ioctl(self, op, arg):
        if op == 4:     # block count
            return self.blocks
        if op == 5:     # block size
            return self.block_size
        if not self._live:
            return _EIO
        if op == 6:     # erase block `arg`
            self._erase(arg)
            return 0
        if op in (1, 2, 3):     # init, shutdown, sync: nothing to do for this chip
            return 0
        return None
