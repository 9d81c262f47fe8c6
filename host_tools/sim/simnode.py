"""Run the firmware on the unix board as a board would live: wake after wake.

Each wake is one `micropython firmware/main.py` process. The unix board (firmware/sim/
simboard.py) keeps its RTC memory, flash chip and clock as files in the simulation folder; deep
sleep ends the process, and the next wake() starts it again, in compressed time (the board's
clock jumps by the time slept). A power loss kills the process at any moment and wipes the RTC
memory, as on a board; the flash image keeps whatever the chip held at that instant.

wake(cut_at=k) cuts the power just before the wake's k-th write point (every program and
erase of the flash chip and every network send counts, from 0: firmware/sim/powercut.py);
cut_at=-1 only counts them: Wake.points lists the wake's write points ("f" flash, "n"
network), so a test learns how many there are and cuts before each in turn.
"""

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import unixport

CUT_MARK = "simboard: power cut before write point"     # firmware/sim/powercut.py says it


@dataclass
class Wake:
    outcome: str          # "slept", "killed" (power loss), "crashed" (exited without deep sleep)
    sleep_ms: int | None
    output: str
    seconds: float
    cut_at: int | None = None   # the write point before which the power went (wake(cut_at=))
    points: str | None = None   # a counted wake's write points, "f" or "n" each


class SimNode:
    def __init__(self, bundle_dir: Path, sim_dir: Path | None = None, heapsize=None,
                 idle_speed=1.0):
        self.bundle_dir = Path(bundle_dir).resolve()
        self.sim_dir = Path(sim_dir or self.bundle_dir / "sim").resolve()
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        self.heapsize = heapsize
        self.idle_speed = idle_speed
        self.sensor_fields = None   # the simulated sensor's value names ("temp_c rh" if None)
        self.wakes = []

    def _file(self, name) -> Path:
        return self.sim_dir / name

    def set_wifi(self, up: bool):
        flag = self._file("wifi-off")
        if up:
            flag.unlink(missing_ok=True)
        else:
            flag.touch()

    def power_loss(self):
        """RTC memory does not survive a power loss; the flash does."""
        self._file("rtc.bin").unlink(missing_ok=True)
        self._file("cause").write_text("power")

    def clock_offset(self) -> float:
        try:
            return float(self._file("clock").read_text())
        except (FileNotFoundError, ValueError):
            return 0.0

    def host_waited(self, seconds: float):
        """The host waited `seconds` through a deep sleep (a run in real time): deep sleep has
        moved the board's clock on already, so it must not count them twice."""
        self._file("clock").write_text(f"{self.clock_offset() - seconds:.3f}")

    def _command(self):
        cmd = [unixport.interpreter()]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        return cmd + [str(unixport.FIRMWARE / "main.py")]

    def _env(self):
        env = dict(os.environ)
        env.update(MICROPYPATH=unixport.micropypath(), NODE_DIR=str(self.bundle_dir),
                   NODE_SIM=str(self.sim_dir), NODE_SIM_SPEED=str(self.idle_speed))
        if self.sensor_fields:
            env["NODE_SIM_FIELDS"] = self.sensor_fields
        return env

    def wake(self, timeout=60.0, kill_after: float | None = None, cut_at: int | None = None) -> Wake:
        """One wake; with kill_after (seconds) the power goes at that moment if still awake;
        with cut_at, just before that write point (-1: never, the write points are counted)."""
        sleep_file = self._file("sleep")
        sleep_file.unlink(missing_ok=True)
        points_file = self._file("points")
        points_file.unlink(missing_ok=True)
        env = self._env()
        if cut_at is not None:
            # The counting socket module (firmware/sim/net) goes first on the path.
            env.update(NODE_SIM_CUT=str(cut_at),
                       MICROPYPATH=os.pathsep.join([str(unixport.SIM / "net"), env["MICROPYPATH"]]))
        started = time.monotonic()
        proc = subprocess.Popen(self._command(), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        killed = False
        try:
            out, _ = proc.communicate(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            if kill_after is None:
                raise RuntimeError(f"the node hung: no deep sleep within {timeout:g} s:\n{out}") from None
            killed = True
        seconds = time.monotonic() - started
        if killed:
            self.power_loss()
            wake = Wake("killed", None, out, seconds)
        elif cut_at is not None and proc.returncode == -signal.SIGKILL and CUT_MARK in out:
            self.power_loss()
            wake = Wake("killed", None, out, seconds, cut_at=cut_at)
        elif proc.returncode == 0 and sleep_file.exists():
            self._file("cause").write_text("deepsleep")
            points = points_file.read_text() if cut_at is not None else None
            wake = Wake("slept", int(sleep_file.read_text()), out, seconds, points=points)
        else:
            # On a board an uncaught error drops to the REPL and the node is dead until reset.
            self._file("cause").write_text("soft")
            wake = Wake("crashed", None, out, seconds)
        self.wakes.append(wake)
        return wake
