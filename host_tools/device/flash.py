"""`flash`: a MicroPython image written with esptool, then the build and a device bundle copied
with mpremote, then a reset.

One small class per chip holds that chip's constants, registered in CHIPS: adding a chip is
one class. The image offset is where the chip's ROM looks for the second-stage bootloader
(esptool's BOOTLOADER_FLASH_OFFSET); MicroPython's .bin downloads start with that bootloader.
"""

from dataclasses import dataclass
from pathlib import Path

from .. import tools
from . import serialport
from .build import MARKER
from ..errors import UserError


class Chip:
    name = ""              # esptool's --chip
    board = ""             # the firmware's board adapter (sys.platform on the chip)
    offset = 0
    image_chip_id = None   # ESP32 family: the chip id in the image's extended header
    write_options = ()
    baud = 460800


class Esp8266(Chip):
    name, board, offset = "esp8266", "esp8266", 0x0
    # MicroPython's instructions: let esptool detect the flash size.
    write_options = ("--flash-size", "detect")


class Esp32(Chip):
    name, board, offset, image_chip_id = "esp32", "esp32", 0x1000, 0


class Esp32S2(Chip):
    name, board, offset, image_chip_id = "esp32s2", "esp32", 0x1000, 2


class Esp32S3(Chip):
    name, board, offset, image_chip_id = "esp32s3", "esp32", 0x0, 9


class Esp32C3(Chip):
    name, board, offset, image_chip_id = "esp32c3", "esp32", 0x0, 5


class Esp32C6(Chip):
    name, board, offset, image_chip_id = "esp32c6", "esp32", 0x0, 13


class Esp32C5(Chip):
    name, board, offset, image_chip_id = "esp32c5", "esp32", 0x2000, 23


class Esp32P4(Chip):
    name, board, offset, image_chip_id = "esp32p4", "esp32", 0x2000, 18


CHIPS = {c.name: c for c in (Esp8266, Esp32, Esp32S2, Esp32S3, Esp32C3, Esp32C6, Esp32C5, Esp32P4)}
BOARDS = ("esp32", "esp8266")
_ESP_IMAGE_MAGIC = 0xE9
FIRST_BOOT_S = 4        # mpremote's `sleep` takes seconds (its help says ms; it calls time.sleep)


def chip_for(board: str, chip: str | None) -> type:
    if board not in BOARDS:
        raise UserError(f"cannot flash a {board!r} board: use --board esp32 or esp8266")
    name = chip or board
    if name not in CHIPS:
        raise UserError(f"unknown chip {name!r}: use one of {', '.join(CHIPS)}")
    found = CHIPS[name]
    if found.board != board:
        raise UserError(f"chip {name} is not an {board}: use --board {found.board}")
    return found


def check_image(path: Path, chip: type):
    """A MicroPython .bin for this chip: ESP image magic, and the ESP32 family's chip id."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"firmware image {path} does not exist: download the .bin for your board "
                        "from micropython.org/download")
    head = path.read_bytes()[:16]
    if len(head) < 16 or head[0] != _ESP_IMAGE_MAGIC:
        raise UserError(f"{path} is not an ESP firmware image (no 0xE9 header): use the .bin "
                        "download, not .uf2/.zip/.elf or an .app-bin")
    if chip.image_chip_id is not None:
        image_chip = int.from_bytes(head[12:14], "little")
        if image_chip != chip.image_chip_id:
            other = next((c.name for c in CHIPS.values() if c.image_chip_id == image_chip), f"chip id {image_chip}")
            raise UserError(f"{path} is an image for {other}, not {chip.name}: download the image "
                            f"for your board, or pass --chip {other} if that is what it is")


@dataclass
class Plan:
    steps: list          # (description, program, argv)

    def commands(self) -> list:
        return [tools.show(argv) for _, _, argv in self.steps]


def _bundle_files(bundle: Path, board: str) -> list:
    from .provision import read_config
    cfg = read_config(bundle)
    if cfg is None:
        raise UserError(f"no device bundle in {bundle}: provision it first with "
                        f"`python -m host_tools provision {bundle.name} --board {board}`")
    if cfg.get("board") != board:
        raise UserError(f"{bundle} was provisioned for an {cfg.get('board')} board, not {board}: "
                        f"provision it again with --board {board}, or flash the right board")
    return sorted(p for p in bundle.iterdir() if p.is_file())


def plan(port: str, chip: type, *, firmware: Path | None, build_dir: Path, bundle: Path | None,
         baud: int | None = None, erase=True) -> Plan:
    steps = []
    esptool = tools.command("esptool")
    if firmware is not None:
        check_image(firmware, chip)
        base = esptool + ["--chip", chip.name, "--port", port, "--baud", str(baud or chip.baud)]
        if erase:
            steps.append(("erase the flash", "esptool", base + ["erase-flash"]))
        steps.append((f"write {Path(firmware).name} at {chip.offset:#x}", "esptool",
                      base + ["write-flash"] + list(chip.write_options) + [f"{chip.offset:#x}", str(firmware)]))
    build_dir = Path(build_dir)
    if not (build_dir / MARKER).exists():
        raise UserError(f"no build in {build_dir}: run `make build` (python -m host_tools build) first")
    items = sorted(p for p in build_dir.iterdir() if p.name != MARKER)
    mpremote = tools.command("mpremote") + ["connect", port]
    argv = list(mpremote)
    if firmware is not None:
        # A fresh MicroPython makes its filesystem on first boot: give it time before the REPL.
        argv += ["sleep", str(FIRST_BOOT_S), "+"]
    if firmware is None:
        # The board keeps its filesystem: remove the old node/ so no stale .py shadows a new .mpy.
        argv += ["exec", _RM_NODE, "+"]
    argv += ["fs", "cp", "-r"] + [str(p) for p in items] + [":"]
    what = f"copy the build ({', '.join(p.name for p in items)})"
    if bundle is not None:
        files = _bundle_files(Path(bundle), chip.board)
        argv += ["+", "fs", "cp"] + [str(p) for p in files] + [":"]
        what += f" and the bundle of {Path(bundle).name} ({', '.join(p.name for p in files)})"
    argv += ["+", "reset"]
    steps.append((what + ", then reset", "mpremote", argv))
    return Plan(steps)


# Runs on the board: delete the node package folder if there is one. One line (exec of a
# string), so the dry run prints one command per line.
_RM_NODE = "exec(%r)" % (
    "import os\n"
    "def rm(p):\n"
    "    for e in os.ilistdir(p):\n"
    "        f = p + '/' + e[0]\n"
    "        rm(f) if e[1] == 0x4000 else os.remove(f)\n"
    "    os.rmdir(p)\n"
    "try:\n"
    "    rm('node')\n"
    "except OSError:\n"
    "    pass\n")


def execute(p: Plan, port: str, out=print):
    serialport.check(port)
    for i, (what, name, argv) in enumerate(p.steps, 1):
        out(f"flash: step {i}/{len(p.steps)}: {what}")
        out(f"  $ {tools.show(argv)}")
        if name == "esptool":
            hint = ("hold the BOOT (GPIO0) button while esptool connects, check the USB cable, "
                    "or try a lower --baud 115200")
        else:
            hint = ("wait until the board has booted MicroPython (after flashing, give it a few "
                    "seconds), check `make repl PORT=...` shows a prompt, then flash again")
        tools.run(argv, what=name, hint=hint, timeout=600)
