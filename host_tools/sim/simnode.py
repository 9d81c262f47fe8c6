"""Run the firmware on the unix board as a board would live: wake after wake.

Each wake is one `micropython firmware/main.py` process. The unix board (firmware/sim/
simboard.py) keeps its RTC memory, flash chip and clock as files in the simulation folder; deep
sleep ends the process, and the next wake() starts it again, in compressed time (the board's
clock jumps by the time slept). A power loss kills the process at any moment and wipes the RTC
memory, as on a board; the flash image keeps whatever the chip held at that instant.
"""

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import unixport


@dataclass
class Wake:
    outcome: str          # "slept", "killed" (power loss), "crashed" (exited without deep sleep)
    sleep_ms: int | None
    output: str
    seconds: float


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

    def wake(self, timeout=60.0, kill_after: float | None = None) -> Wake:
        """One wake; with kill_after (seconds) the power goes at that moment if still awake."""
        sleep_file = self._file("sleep")
        sleep_file.unlink(missing_ok=True)
        started = time.monotonic()
        proc = subprocess.Popen(self._command(), env=self._env(), stdout=subprocess.PIPE,
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
        elif proc.returncode == 0 and sleep_file.exists():
            self._file("cause").write_text("deepsleep")
            wake = Wake("slept", int(sleep_file.read_text()), out, seconds)
        else:
            # On a board an uncaught error drops to the REPL and the node is dead until reset.
            self._file("cause").write_text("soft")
            wake = Wake("crashed", None, out, seconds)
        self.wakes.append(wake)
        return wake
