"""`flash`: a MicroPython image written with esptool, then files copied with mpremote, then a
reset.

What is copied depends on the image. With the node frozen in (`image`; always on an ESP8266,
whose heap cannot hold the node loaded from .mpy files): main.py and the device bundle only.
Otherwise (ESP32): the .mpy build of `build` and the bundle. The image offset is where the
chip's ROM looks for the second-stage bootloader, read from esptool; MicroPython's .bin
downloads and builds start with that bootloader.
"""

from dataclasses import dataclass
from pathlib import Path

from .. import tools
from ..errors import UserError
from ..repo import FIRMWARE
from . import serialport
from .build import MARKER
from .bundle import read_config
from .chips import BAUD, Chip, check_image, has_frozen_node

FIRST_BOOT_S = 4        # mpremote's `sleep` takes seconds (its help says ms; it calls time.sleep)
# Why an ESP8266 gets no .mpy modules, in one line.
NO_MPY_ON_ESP8266 = ("an ESP8266 runs the node frozen into its MicroPython image: .mpy modules "
                     "copied to it would not fit its heap (about 30 KB free) and would hide the "
                     "frozen ones")


@dataclass
class Plan:
    steps: list          # (description, program, argv)

    def commands(self) -> list:
        return [tools.show(argv) for _, _, argv in self.steps]


def _bundle_files(bundle: Path, board: str) -> list:
    cfg = read_config(bundle)
    if cfg is None:
        raise UserError(f"no device bundle in {bundle}: provision it first with "
                        f"`python -m host_tools provision {bundle.name} --board {board}`")
    if cfg.get("board") != board:
        raise UserError(f"{bundle} was provisioned for an {cfg.get('board')} board, not {board}: "
                        f"provision it again with --board {board}, or flash the right board")
    return sorted(p for p in bundle.iterdir() if p.is_file())


def plan(port: str, chip: Chip, *, firmware: Path | None, build_dir: Path, bundle: Path | None,
         baud: int | None = None, erase=True, modules_asked=False) -> Plan:
    """The steps; `modules_asked`: the user named a build to copy (--build-dir)."""
    steps = []
    frozen = chip.board == "esp8266"
    if firmware is not None:
        data = check_image(firmware, chip)
        frozen = has_frozen_node(data)
        if chip.board == "esp8266" and not frozen:
            raise UserError(f"{firmware} has no node frozen in, and {NO_MPY_ON_ESP8266}: build "
                            "the image with `image --board esp8266 --micropython-src DIR`")
        esptool = tools.command("esptool")
        base = esptool + ["--chip", chip.name, "--port", port, "--baud", str(baud or BAUD)]
        if erase:
            steps.append(("erase the flash", "esptool", base + ["erase-flash"]))
        steps.append((f"write {Path(firmware).name} at {chip.offset:#x}", "esptool",
                      base + ["write-flash"] + list(chip.write_options) + [f"{chip.offset:#x}", str(firmware)]))
    if frozen and modules_asked:
        why = NO_MPY_ON_ESP8266 if chip.board == "esp8266" else \
            "the image has the node frozen in, and .mpy modules copied to the board would hide it"
        raise UserError(f"{why}: drop --build-dir (flash copies main.py and the bundle only)")
    if frozen:
        items, what = [FIRMWARE / "main.py"], "copy main.py (the node is frozen in the image)"
    else:
        build_dir = Path(build_dir)
        if not (build_dir / MARKER).exists():
            raise UserError(f"no build in {build_dir}: run `make build` (python -m host_tools build) first")
        items = sorted(p for p in build_dir.iterdir() if p.name != MARKER)
        what = f"copy the build ({', '.join(p.name for p in items)})"
    argv = tools.command("mpremote") + ["connect", port]
    if firmware is not None:
        # A fresh MicroPython makes its filesystem on first boot: give it time before the REPL.
        argv += ["sleep", str(FIRST_BOOT_S), "+"]
    else:
        # The board keeps its filesystem: remove an old node/, which would shadow a new .mpy
        # build or the frozen package.
        argv += ["exec", _RM_NODE, "+"]
    argv += ["fs", "cp"] + (["-r"] if not frozen else []) + [str(p) for p in items] + [":"]
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
