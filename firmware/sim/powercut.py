# Whole-wake power cuts on the unix board. Every program or erase of the flash chip and every
# send on the network is a write point, numbered from 0 in each wake. A runner arms the cut
# with NODE_SIM_CUT=k (host_tools.simnode): just before write point k the process kills itself
# (SIGKILL: nothing after that point runs, no file is closed, no socket shut down cleanly),
# and the runner plays the rest of a power loss (RTC memory gone). NODE_SIM_CUT=-1 only counts.
# At deep sleep simboard writes the wake's write points to <sim>/points, a letter each ("f"
# flash, "n" network), so that a runner learns how many a wake makes and cuts before each in
# turn, as the ring buffer's power-loss tests do with the chip alone.
#
# Imported only while a cut is armed: simboard takes the chip from here, and the socket module
# of sim/net/ (on the path only then) counts the sends. Never on a board or an emulator.
import os

from simchip import Chip as _Chip

MARK = "simboard: power cut before write point"
_at = int(os.getenv("NODE_SIM_CUT") or "-1")
kinds = []          # the write points of this wake so far: "f" or "n" each


def point(kind):
    """A write point of `kind` is about to happen: the power goes here if the cut is here."""
    if len(kinds) == _at:
        print("%s %d (%s)" % (MARK, _at, "flash" if kind == "f" else "network"))
        # $PPID of the shell is this process: it dies inside this call, before the write.
        os.system("kill -9 $PPID")
    kinds.append(kind)


class Chip(_Chip):
    """The flash chip, each program and erase a write point."""

    def _write_point(self):
        point("f")
        _Chip._write_point(self)
