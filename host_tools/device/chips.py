"""The chips `flash` and `image` know. Their facts are esptool's (esptool.targets CHIP_DEFS, one
class per chip): where the image goes (BOOTLOADER_FLASH_OFFSET), the chip id an ESP32-family
image names (IMAGE_CHIP_ID), the ESP8266's memory map. Ours are only which board adapter of the
firmware runs on it and MicroPython's generic board for it."""

import contextlib
import io
from dataclasses import dataclass

from esptool.bin_image import LoadFirmwareImage
from esptool.loader import ESPLoader
from esptool.targets import CHIP_DEFS

from ..errors import UserError

BOARDS = ("esp32", "esp8266")
# esptool's chip name -> (the firmware's board, MicroPython's generic board for it)
_CHIPS = {
    "esp8266": ("esp8266", "ESP8266_GENERIC"),
    "esp32": ("esp32", "ESP32_GENERIC"),
    "esp32s2": ("esp32", "ESP32_GENERIC_S2"),
    "esp32s3": ("esp32", "ESP32_GENERIC_S3"),
    "esp32c3": ("esp32", "ESP32_GENERIC_C3"),
    "esp32c6": ("esp32", "ESP32_GENERIC_C6"),
    "esp32c5": ("esp32", "ESP32_GENERIC_C5"),
    "esp32p4": ("esp32", "ESP32_GENERIC_P4"),
}
# MicroPython's instructions for the ESP8266: let esptool detect the flash size.
_WRITE_OPTIONS = {"esp8266": ("--flash-size", "detect")}
BAUD = 460800
# How a MicroPython image shows the node package frozen in: the frozen module names are
# kept as plain strings in the image (MicroPython's tools/mpy-tool.py, mp_frozen_names).
FROZEN_NODE = b"node/__init__.py"


@dataclass(frozen=True)
class Chip:
    name: str           # esptool's --chip

    @property
    def rom(self):
        return CHIP_DEFS[self.name]

    @property
    def board(self):
        return _CHIPS[self.name][0]

    @property
    def micropython_board(self):
        return _CHIPS[self.name][1]

    @property
    def offset(self) -> int:
        return self.rom.BOOTLOADER_FLASH_OFFSET

    @property
    def image_chip_id(self):
        return getattr(self.rom, "IMAGE_CHIP_ID", None)

    @property
    def write_options(self):
        return _WRITE_OPTIONS.get(self.name, ())


CHIPS = {name: Chip(name) for name in _CHIPS}


def chip_for(board: str, chip: str | None) -> Chip:
    if board not in BOARDS:
        raise UserError(f"cannot flash a {board!r} board: use --board esp32 or esp8266")
    name = chip or board
    if name not in CHIPS:
        raise UserError(f"unknown chip {name!r}: use one of {', '.join(CHIPS)}")
    found = CHIPS[name]
    if found.board != board:
        raise UserError(f"chip {name} is not an {board}: use --board {found.board}")
    return found


def header_chip(head: bytes):
    """The ESP32-family chip an image's extended header names, as esptool's image-info reads
    it (a digest flag of 0 or 1 and a known chip id), or None: an ESP8266 image has none."""
    if len(head) < 24 or head[23] not in (0, 1):
        return None
    chip_id = int.from_bytes(head[12:14], "little")
    return next((c.name for c in CHIPS.values() if c.image_chip_id == chip_id), None)


def _esp8266_segments(data: bytes):
    """The load addresses of an ESP8266 image's segments, parsed by esptool (quietly)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return [s.addr for s in LoadFirmwareImage("esp8266", data).segments]
        except Exception:            # esptool's FatalError, or a short read: not an image
            return None


def check_image(path, chip: Chip) -> bytes:
    """A MicroPython .bin for this chip; returns its bytes."""
    from pathlib import Path
    path = Path(path)
    if not path.is_file():
        raise UserError(f"firmware image {path} does not exist: build it with `image --board "
                        f"{chip.board}`, or download the .bin for your board from micropython.org/download")
    data = path.read_bytes()
    if len(data) < 24 or data[0] != ESPLoader.ESP_IMAGE_MAGIC:
        raise UserError(f"{path} is not an ESP firmware image (no {ESPLoader.ESP_IMAGE_MAGIC:#x} "
                        "header): use the .bin, not .uf2/.zip/.elf or an .app-bin")
    named = header_chip(data)
    if chip.image_chip_id is not None:
        if named != chip.name:
            other = named or "an ESP8266"
            raise UserError(f"{path} is an image for {other}, not {chip.name}: use the image "
                            f"for your board" + (f", or pass --chip {named} if that is what it is"
                                                 if named else ""))
        return data
    # The ESP8266's images have no chip id: every segment must load into its memory.
    memory = chip.rom.MEMORY_MAP
    segments = _esp8266_segments(data)
    if not segments or not all(any(lo <= a < hi for lo, hi, _ in memory) for a in segments):
        what = f"an image for {named}" if named else "not an ESP8266 image (its segments load " \
                                                     "outside the ESP8266's memory)"
        raise UserError(f"{path} is {what}: use an ESP8266 image (`image --board esp8266`)")
    return data


def has_frozen_node(data: bytes) -> bool:
    return FROZEN_NODE in data
