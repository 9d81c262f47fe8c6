# The simulated flash chip of the unix board (node.board.simflash), under MicroPython: the
# block-device protocol littlefs uses, NOR semantics, counters, power cuts, the image file.
import os
import vfs

from mptest import eq, raises
from simflash import PowerCut, SimFlash


def test_ioctl_answers_what_littlefs_asks():
    f = SimFlash(blocks=8)
    eq(f.ioctl(4, 0), 8, "block count")
    eq(f.ioctl(5, 0), 4096, "block size")
    eq(f.ioctl(1, 0), 0, "init")
    eq(f.ioctl(3, 0), 0, "sync")
    eq(f.ioctl(6, 2), 0, "erase")
    eq(f.counters(), (0, 0, 1), "an erase is counted")
    eq(f.wear(2), 1)
    eq(f.ioctl(99, 0), None, "unknown op")


def test_extended_interface_reads_and_programs_at_an_offset():
    f = SimFlash(blocks=4)
    buf = bytearray(8)
    f.readblocks(1, buf, 100)
    eq(bytes(buf), b"\xff" * 8, "a new chip is erased")
    f.writeblocks(1, b"abcdefgh", 100)
    f.readblocks(1, buf, 100)
    eq(bytes(buf), b"abcdefgh")
    f.readblocks(1, buf, 96)
    eq(bytes(buf), b"\xff" * 4 + b"abcd", "only the bytes written change")
    eq(f.counters(), (1, 8, 0), "(programs, bytes, erases)")
    eq(f.reads, 3)
    raises(ValueError, f.readblocks, 4, buf, 0)
    raises(ValueError, f.writeblocks, 3, bytes(8), 4092)


def test_programs_only_clear_bits_and_erase_sets_them():
    f = SimFlash(blocks=2)
    f.writeblocks(0, b"\x0f", 0)
    f.writeblocks(0, b"\xf0", 0)        # programming over programmed bytes: NOR ANDs them
    buf = bytearray(1)
    f.readblocks(0, buf, 0)
    eq(buf[0], 0x00, "NOR program")
    eq(f.overprogrammed, 1, "bytes programmed without an erase")
    f.ioctl(6, 0)
    f.readblocks(0, buf, 0)
    eq(buf[0], 0xFF, "after erase")


def test_simple_interface_erases_the_blocks_it_writes():
    f = SimFlash(blocks=4)
    f.writeblocks(1, b"\x00" * 4096, 0)
    f.writeblocks(1, b"\x5a" * 8192)         # no offset: whole blocks, erased first
    buf = bytearray(4)
    f.readblocks(2, buf, 4092)
    eq(bytes(buf), b"\x5a" * 4)
    eq(f.overprogrammed, 0)
    eq(f.erases, 2)


def test_littlefs_formats_mounts_and_never_programs_unerased_bytes():
    f = SimFlash(blocks=32)
    vfs.VfsLfs2.mkfs(f)
    vfs.mount(vfs.VfsLfs2(f), "/flash")
    st = os.statvfs("/flash")
    eq((st[0], st[2]), (4096, 32), "(block size, blocks)")
    f.reset_counters()
    with open("/flash/a", "wb") as fh:
        fh.write(b"x" * 10000)
    programs, programmed, erases = f.counters()
    assert programmed >= 10000 and erases >= 3, f.counters()
    with open("/flash/a", "rb") as fh:
        eq(fh.read(), b"x" * 10000)
    eq(f.overprogrammed, 0, "littlefs programmed bytes that were not erased")
    vfs.umount("/flash")


def test_power_cut_stops_every_write_from_the_nth_on():
    f = SimFlash(blocks=4)
    f.cut_power(after=2)
    f.writeblocks(0, b"a", 0)
    f.ioctl(6, 1)
    raises(PowerCut, f.writeblocks, 0, b"b", 1)
    raises(PowerCut, f.ioctl, 6, 2)             # and nothing after it either
    eq(f.write_points, 2)
    buf = bytearray(2)
    f.readblocks(0, buf, 0)
    eq(bytes(buf), b"a\xff", "the cut program did not happen")
    f2 = f.power_on()
    f2.writeblocks(0, b"c", 1)
    f2.readblocks(0, buf, 0)
    eq(bytes(buf), b"ac", "after power on")
    eq(f.writeblocks(0, b"d", 2), -5, "the old session's writes fail with EIO")
    eq(f.readblocks(0, buf, 0), -5, "and its reads")
    f2.readblocks(0, buf, 1)
    eq(bytes(buf), b"c\xff")


def test_torn_program_writes_half():
    f = SimFlash(blocks=2)
    f.cut_power(after=0, torn=True)
    raises(PowerCut, f.writeblocks, 0, b"abcd", 0)
    buf = bytearray(4)
    f.readblocks(0, buf, 0)
    eq(bytes(buf), b"ab\xff\xff")


def test_power_cut_during_a_littlefs_write_keeps_the_old_file():
    f = SimFlash(blocks=16)
    vfs.VfsLfs2.mkfs(f)
    vfs.mount(vfs.VfsLfs2(f), "/flash")
    with open("/flash/a", "wb") as fh:
        fh.write(b"old")
    f.cut_power(after=1)
    try:
        with open("/flash/a", "wb") as fh:
            fh.write(b"new" * 2000)
    except PowerCut:
        pass
    else:
        raise AssertionError("no power cut")
    vfs.umount("/flash")
    f = f.power_on()
    vfs.mount(vfs.VfsLfs2(f), "/flash")
    with open("/flash/a", "rb") as fh:
        eq(fh.read(), b"old")
    vfs.umount("/flash")


def test_image_file_keeps_the_chip_for_the_next_boot():
    f = SimFlash(blocks=16, path="chip.img")
    eq(os.stat("chip.img")[6], 16 * 4096, "image size")
    vfs.VfsLfs2.mkfs(f)
    vfs.mount(vfs.VfsLfs2(f), "/flash")
    with open("/flash/kept", "w") as fh:
        fh.write("across reboots")
    vfs.umount("/flash")
    f.close()
    f = SimFlash(blocks=16, path="chip.img")    # the next boot of the simulated board
    vfs.mount(vfs.VfsLfs2(f), "/flash")
    with open("/flash/kept") as fh:
        eq(fh.read(), "across reboots")
    vfs.umount("/flash")
    f.close()
    err = raises(ValueError, SimFlash, 32, 4096, "chip.img")
    assert "chip.img" in str(err) and "blocks" in str(err), str(err)


def test_snapshot_and_restore():
    f = SimFlash(blocks=2)
    image = f.snapshot()
    f.writeblocks(0, b"xyz", 10)
    f.restore(image)
    buf = bytearray(3)
    f.readblocks(0, buf, 10)
    eq(bytes(buf), b"\xff\xff\xff")


def test_bad_geometry_is_refused():
    raises(ValueError, SimFlash, 1)
    raises(ValueError, SimFlash, 8, 1000)
    raises(ValueError, SimFlash, 8, 32)
