"""The simulated flash chip (simchip.Chip) with what tests and benchmarks need besides the
block device: power sessions, counters, snapshots.

    flash = SimFlash(blocks=64)                 # RAM; SimFlash(path=...) for an image file
    vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), "/flash")

It is the block device of one power session of the chip, and follows MicroPython's
block-device protocol, extended interface (simchip says how). Counters (programs,
programmed, erases, reads, read_bytes, overprogrammed, write_points) are the chip's;
``counters()`` gives (programs, programmed, erases), ``reset_counters()`` zeroes them,
``wear(n)`` is how often block n was erased (RAM chips).

Power loss: ``cut_power(after=k)`` lets k more programs/erases reach the chip; the next one, and
every one after it, raises PowerCut and changes nothing, as if the board lost power just before
it. With ``torn=True`` the k-th program reaches the chip only in part (its first half) before
the power goes, as a real program interrupted midway. ``power_on()`` returns the block device
of the next power session, to mount again (littlefs's RAM state of the old mount is gone, as on
a board). The old object is dead from then on: all its I/O fails with EIO and changes nothing,
so file objects of the old mount that the garbage collector finalises later cannot write to
the chip (MicroPython prints their EIO). ``write_points`` counts every program and erase ever
made: run a workload once to learn how many it makes, then cut before each in turn
(littlefs's "linear" power-loss testing). ``snapshot()``/``restore(image)`` save and put back
the contents (not counted).
"""

import gc

from simchip import Chip, PowerCut  # noqa: F401

_EIO = -5


class SimFlash:
    def __init__(self, blocks=64, block_size=4096, path=None, _chip=None):
        self._chip = _chip or Chip(blocks, block_size, path)
        self.blocks = self._chip.blocks
        self.block_size = self._chip.block_size
        self._live = True       # False once a later session has started

    def __getattr__(self, name):
        # the chip's counters and power state
        return getattr(self._chip, name)

    # -- power ---------------------------------------------------------------
    def cut_power(self, after=0, torn=False):
        """Let `after` more programs/erases happen, then lose power before (torn: during) the next."""
        self._chip.cut_at = self._chip.write_points + after
        self._chip.torn = torn

    def power_on(self):
        """End this power session; returns the block device of the next one (mount it again)."""
        self._live = False
        gc.collect()    # finalise the old mount's orphaned files now, while they cannot write
        chip = self._chip
        chip.cut_at = -1
        chip.powered = True
        return SimFlash(_chip=chip)

    # -- counters ------------------------------------------------------------
    def reset_counters(self):
        c = self._chip
        c.programs = c.programmed = c.erases = c.reads = c.read_bytes = c.overprogrammed = 0

    def counters(self):
        """(programs, bytes programmed, erases) since reset_counters()."""
        c = self._chip
        return c.programs, c.programmed, c.erases

    def wear(self, n):
        """How often block n was erased since the chip was made (RAM chips)."""
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

    # -- block device protocol: the chip's, while this session lives ------------
    def readblocks(self, n, buf, off=0):
        return self._chip.readblocks(n, buf, off) if self._live else _EIO

    def writeblocks(self, n, buf, off=None):
        return self._chip.writeblocks(n, buf, off) if self._live else _EIO

    def ioctl(self, op, arg):
        if not self._live and op not in (4, 5):
            return _EIO
        return self._chip.ioctl(op, arg)
