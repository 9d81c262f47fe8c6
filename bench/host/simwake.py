"""Wakes of the real firmware on the unix board for the benchmarks: host_tools.simnode.SimNode,
run from firmware/ (source) or from a build of it (.mpy, host_tools.build), either as
firmware/main.py itself or through bench/wake_probe.py, which runs main.py and records time,
heap and flash counters of the wake (one JSON line per wake in `probe_out`)."""

import json
import os
from pathlib import Path

from host_tools import unixport
from host_tools.simnode import SimNode

from .rig import DEVICE_DIR



class BenchNode(SimNode):
    def __init__(self, bundle_dir, sim_dir=None, *, code_dir: Path = unixport.FIRMWARE,
                 probe=False, queue="ring", heapsize=None):
        super().__init__(bundle_dir, sim_dir, heapsize=heapsize)
        self.code_dir = Path(code_dir)
        self.probe = probe
        self.queue = queue
        self.probe_out = self.sim_dir.parent / (self.sim_dir.name + "-probe.jsonl")

    def _command(self):
        cmd = [unixport.interpreter()]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        script = DEVICE_DIR / "wake_probe.py" if self.probe else self.code_dir / "main.py"
        return cmd + [str(script)]

    def _env(self):
        env = super()._env()
        env["MICROPYPATH"] = os.pathsep.join([".frozen", str(self.code_dir), str(unixport.SIM), str(DEVICE_DIR)])
        env["BENCH_PROBE_OUT"] = str(self.probe_out)
        if self.queue == "naive":
            env["BENCH_QUEUE"] = "naive"
        return env

    def probe_wake(self, **kw):
        """A wake through the probe: (Wake, the probe's record or None)."""
        assert self.probe
        self.probe_out.unlink(missing_ok=True)
        w = self.wake(**kw)
        try:
            lines = self.probe_out.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        return w, (json.loads(lines[-1]) if lines else None)


def delivered_all(w) -> bool:
    """The wake slept holding nothing undelivered, with no error on the way."""
    out = w.output
    return (w.outcome == "slept" and "(buffered 0 in flash, 0 in RTC memory)" in out
            and "failed" not in out and "Traceback" not in out and "Error" not in out)
