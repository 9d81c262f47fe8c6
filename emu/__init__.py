"""The board emulators: two 32-bit unix ports of MicroPython that stand in for the boards'
RAM (emu/README.md says how they are built and how close they come), and wakes of the
firmware on them the way each board runs it.

    boards = emu.ensure()                 # {"esp8266": Board, "esp32": Board}, built if needed
    node = emu.EmuNode(boards["esp8266"], bundle_dir, sim_dir, heapsize=28672)
    node.wake()                           # host_tools.simnode.Wake

esp8266: the node frozen into the interpreter (emu/esp8266/manifest.py includes the same
firmware/manifest.py as a board image), its board's file system holding main.py alone, axTLS
allocating from the GC heap. esp32: the node loaded as .mpy (host_tools build, as `make flash`
copies it), mbedtls outside the GC heap. On both the unix board simulator (firmware/sim) is
frozen, as a board's own adapter and drivers are.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from host_tools import build, unixport
from host_tools.simnode import SimNode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = REPO / "build" / "emu"
BOARDS = ("esp8266", "esp32")
AXTLS_OOM = 97          # the esp8266 emulator's exit status when axTLS finds no heap
HOW = ("build them with `make emu MICROPYTHON_SRC=<MicroPython 1.29 source>` (README, "
       "\"Board emulators\")")


class EmulatorMissing(Exception):
    """The emulators are not built and no MicroPython source is known to build them from."""


@dataclass
class Board:
    name: str
    interpreter: Path
    code_dir: Path          # the board's file system: main.py (and on esp32 the .mpy modules)


def source():
    """The MicroPython source tree to build from: $MICROPYTHON_SRC, else the one the last
    build used."""
    explicit = os.environ.get("MICROPYTHON_SRC")
    if explicit:
        return explicit
    recorded = OUT / "source"
    return recorded.read_text().strip() if recorded.exists() else None


def ensure(out: Path = OUT) -> dict:
    """The emulators, brought up to date with firmware/ (a build of a few seconds when only
    the firmware changed), and each board's file system."""
    src = source()
    binaries = {b: out / b / "micropython" for b in BOARDS}
    if src:
        proc = subprocess.run(["bash", str(HERE / "build"), src, str(out)], capture_output=True,
                              text=True, timeout=1800)
        if proc.returncode != 0:
            raise EmulatorMissing(f"emu/build failed:\n{proc.stdout}{proc.stderr}")
    elif not all(p.exists() for p in binaries.values()):
        raise EmulatorMissing(f"the board emulators are not built: {HOW}")
    fs = out / "fs-esp8266"
    fs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(unixport.FIRMWARE / "main.py", fs / "main.py")
    mpy = build.build(out=out / "fs-esp32").out
    return {"esp8266": Board("esp8266", binaries["esp8266"], fs),
            "esp32": Board("esp32", binaries["esp32"], mpy)}


class EmuNode(SimNode):
    """Wakes of the firmware on a board emulator: main.py from the board's file system, the
    node frozen (esp8266) or as .mpy (esp32); probe=True runs it through
    bench/device/wake_probe.py (frozen too), which marks each phase of the wake."""

    def __init__(self, board: Board, bundle_dir, sim_dir=None, heapsize=None, probe=False,
                 probe_out=None, collect=False):
        super().__init__(bundle_dir, sim_dir, heapsize=heapsize, idle_speed=1000)
        self.board = board
        self.probe = probe
        self.probe_out = probe_out
        self.collect = collect

    def _command(self):
        cmd = [str(self.board.interpreter)]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        return cmd + (["-m", "wake_probe"] if self.probe else [str(self.board.code_dir / "main.py")])

    def _env(self):
        env = super()._env()
        # Only what the board has: frozen modules and its own file system.
        env["MICROPYPATH"] = os.pathsep.join([".frozen", str(self.board.code_dir)])
        if self.probe_out:
            env["BENCH_PROBE_OUT"] = str(self.probe_out)
        if self.collect:
            env["BENCH_PROBE_COLLECT"] = "1"
        return env
