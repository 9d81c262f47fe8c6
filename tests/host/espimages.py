"""Firmware images for the flash and image tests, written by esptool's own image classes."""

from esptool.bin_image import ELFSection
from esptool.targets import CHIP_DEFS

# What MicroPython's build leaves in an image with the node frozen in (mp_frozen_names).
FROZEN_NAMES = b"node/__init__.py\0node/app.py\0\0"


def image(path, chip="esp32", frozen=False):
    """An image for `chip` as esptool writes one: its header, one segment loading into the
    chip's RAM (its memory map), and the frozen module names when `frozen`."""
    rom = CHIP_DEFS[chip]
    img = rom.BOOTLOADER_IMAGE()
    ram = next(start for start, end, name in rom.MEMORY_MAP if name in ("DRAM", "IRAM"))
    img.segments = [ELFSection(b".data", ram, bytes(64), 0)]
    img.entrypoint = ram
    if chip == "esp8266":
        img.save(str(path))                          # esptool names it <path>0x00000.bin
        data = path.with_name(path.name + "0x00000.bin").read_bytes()
    else:
        img.save(str(path))
        data = path.read_bytes()
    path.write_bytes(data + (FROZEN_NAMES if frozen else b""))
    return path
