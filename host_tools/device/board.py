"""`repl`, `dev` and `smoke`: a connected board through mpremote."""

import os
import re
import subprocess
import sys

from .. import tools
from ..context import say
from ..errors import UserError
from ..repo import FIRMWARE
from . import serialport

SMOKE = "import node.selftest; node.selftest.run()"


def _mpremote_exec(port, extra, dry_run):
    argv = tools.command("mpremote") + ["connect", port] + extra
    if dry_run:
        say(tools.show(argv))
        return 0
    serialport.check(port)
    sys.stdout.flush()
    os.execv(argv[0], argv)


def repl(ctx, args):
    return _mpremote_exec(args.port, ["repl"], args.dry_run)


def dev(ctx, args):
    # The board runs firmware/ from this machine (mpremote mount); its bundle stays on its flash.
    return _mpremote_exec(args.port, ["mount", str(FIRMWARE), "run", str(FIRMWARE / "main.py")],
                          args.dry_run)


def smoke(ctx, args):
    """The board's self test (node.selftest) over mpremote; fails unless every check passed."""
    # `resume`: no soft reset first (the unix port, as a stand-in board in tests, would exit).
    argv = tools.command("mpremote") + ["connect", args.port, "resume", "exec", SMOKE]
    if args.dry_run:
        say(tools.show(argv))
        return 0
    serialport.check(args.port)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    summary = None
    for line in proc.stdout:
        print(line, end="", flush=True)
        summary = re.match(r"smoke: (\d+) of (\d+) checks passed", line) or summary
    proc.wait()
    if proc.returncode != 0 or summary is None:
        raise UserError("the self test did not run to its end: flash the build and the device "
                        "bundle first (`make flash DEVICE=... PORT=...`)")
    if summary.group(1) != summary.group(2):
        raise UserError("self test: %s of %s checks passed: see the FAIL lines above"
                        % summary.groups())
    return 0
