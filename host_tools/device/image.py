"""`image`: a MicroPython image with the node frozen in, made by MicroPython's own build.

    make -C SRC/mpy-cross
    make -C SRC/ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST=<repo>/freeze/manifest.py

(ports/esp32 likewise, with ESP-IDF). SRC is a MicroPython source tree with its submodules
lib/axtls, lib/mbedtls and lib/micropython-lib, or a tarball of one. Frozen, the node's bytecode
and constants stay in flash and only its objects take heap, which an ESP8266 needs. The
image is copied to build/image/<chip>/firmware.bin, where `flash` takes it from.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import tools
from ..errors import UserError
from ..repo import FREEZE_MANIFEST
from .chips import Chip, check_image, has_frozen_node

SOURCE = "git clone https://github.com/micropython/micropython && git -C micropython checkout " \
         "1c3c2011 && git -C micropython submodule update --init lib/axtls lib/mbedtls " \
         "lib/micropython-lib"
ESP8266_COMPILER = "xtensa-lx106-elf-gcc"        # the esp8266 port's CROSS_COMPILE default
SUBMODULES = {"esp8266": ("lib/axtls/ssl", "lib/micropython-lib/micropython"),
              "esp32": ("lib/mbedtls/library", "lib/micropython-lib/micropython")}


@dataclass
class Step:
    what: str
    argv: list


@dataclass
class Plan:
    chip: Chip
    src: Path                     # the MicroPython tree (after unpacking)
    steps: list
    built: Path                   # what MicroPython's build leaves
    out: Path                     # where `flash` takes it from


def plan(chip: Chip, src: Path, out_dir: Path, board=None, work_dir: Path = None) -> Plan:
    src = Path(src)
    steps = []
    if src.is_file():
        # A tarball of the tree: unpacked (once per run) under the build folder.
        tree = Path(work_dir) / "micropython-src" / src.name.split(".tar")[0]
        steps.append(Step("unpack the MicroPython source", ["rm", "-rf", str(tree)]))
        steps.append(Step("", ["mkdir", "-p", str(tree)]))
        steps.append(Step("", ["tar", "-xf", str(src), "-C", str(tree), "--strip-components=1"]))
        src = tree
    elif not src.is_dir():
        raise UserError(f"--micropython-src {src} does not exist: give a MicroPython source tree "
                        f"(`{SOURCE}`) or a tarball of one")
    else:
        _check_tree(src, chip)
    board = board or chip.micropython_board
    port_dir = src / "ports" / chip.board
    steps.append(Step("MicroPython's cross-compiler", ["make", "-C", str(src / "mpy-cross")]))
    steps.append(Step(f"MicroPython for {board} with the node frozen in",
                      ["make", "-C", str(port_dir), f"BOARD={board}",
                       f"FROZEN_MANIFEST={FREEZE_MANIFEST}"]))
    built = port_dir / f"build-{board}" / "firmware.bin"
    out = Path(out_dir) / chip.name / "firmware.bin"
    steps.append(Step("the image for `flash`", ["cp", str(built), str(out)]))
    return Plan(chip, src, steps, built, out)


def _check_tree(src: Path, chip: Chip):
    port = chip.board          # MicroPython's port folders are named like the boards here
    if not (src / "mpy-cross" / "Makefile").exists() or not (src / "ports" / port / "Makefile").exists():
        raise UserError(f"{src} is not a MicroPython source tree with ports/{port}: get one with "
                        f"`{SOURCE}`")
    missing = [m for m in SUBMODULES[port] if not (src / m).is_dir() or not any((src / m).iterdir())]
    if missing:
        raise UserError(f"{src} lacks the submodule(s) {', '.join(m.split('/')[1] for m in missing)}: "
                        f"`git -C {src} submodule update --init lib/axtls lib/mbedtls "
                        "lib/micropython-lib`")


def check_toolchain(chip: Chip, env=None):
    """The compiler MicroPython's build calls must be on PATH; say how to get it if not."""
    env = os.environ if env is None else env
    if chip.board == "esp8266":
        if shutil.which(ESP8266_COMPILER, path=env.get("PATH")):
            return
        raise UserError(
            f"{ESP8266_COMPILER} is not on PATH, and MicroPython's esp8266 build needs it: "
            "install the esp-open-sdk toolchain (ports/esp8266/README.md: unpack "
            "xtensa-lx106-elf-standalone.tar.gz and add its bin/ to PATH), or build in "
            "MicroPython's container: `docker run --rm -v $HOME:$HOME -u $UID -w $PWD "
            "larsks/esp-open-sdk make -C ports/esp8266 BOARD=ESP8266_GENERIC "
            f"FROZEN_MANIFEST={FREEZE_MANIFEST}` (or `mpbuild build ESP8266_GENERIC` with that "
            "FROZEN_MANIFEST) in the MicroPython folder, then `flash --firmware "
            "ports/esp8266/build-ESP8266_GENERIC/firmware.bin`")
    elif not (shutil.which("idf.py", path=env.get("PATH")) and env.get("IDF_PATH")):
        raise UserError(
            "ESP-IDF is not set up (no idf.py on PATH, no IDF_PATH), and MicroPython's esp32 build "
            "needs it: install the ESP-IDF version ports/esp32/README.md names and run its "
            "export.sh, or build in MicroPython's container (`mpbuild build ESP32_GENERIC` with "
            f"FROZEN_MANIFEST={FREEZE_MANIFEST}); without a frozen image the ESP32 takes the .mpy "
            "build (`flash --firmware <MicroPython's .bin>`)")


def execute(p: Plan, out=print):
    check_toolchain(p.chip)
    for i, step in enumerate(p.steps, 1):
        if step.what:
            out(f"image: {step.what}")
        out(f"  $ {tools.show(step.argv)}")
        if step.argv[0] == "cp":
            if not p.built.exists():
                raise UserError(f"MicroPython's build left no {p.built}: see its output above")
            p.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p.built, p.out)
            continue
        tools.run(step.argv, what=step.argv[0], hint="see the build's output above; MicroPython's "
                  f"ports/{p.chip.board}/README.md lists what it needs", timeout=3600,
                  missing="install it (`sudo apt-get install build-essential` on Debian/Ubuntu)")
        if step.argv[0] == "tar":
            _check_tree(p.src, p.chip)
    data = check_image(p.out, p.chip)
    if not has_frozen_node(data):
        raise UserError(f"{p.out} came out without the node frozen in: check FROZEN_MANIFEST "
                        f"({FREEZE_MANIFEST}) reached the build (a stale build folder keeps the old "
                        f"one: remove {p.built.parent})")
    return p.out
