"""The wakes the board budgets are about, on a board emulator against a broker: prepared,
attempted at a heap cap, measured (smallest heap, live heap after each phase), and looked at
again when one does not fit. Used by tests/integration/test_board_budgets.py and `make bench`.

    w = Wakes(board, broker_args, workdir)   # broker_args: host_tools.provision.write_bundle's
    bundle = w.usual()                       # or w.flush(): the board's state just before it
    w.attempt(bundle, 28672)                 # a Wake, from that state (kept for more attempts)
"""

import json
import re
import shutil

from host_tools import provision

from . import EmuNode

DEVICE = "node-1"
BACKLOG = 10
ROOMY = 1 << 20
PHASES = ("imports", "config+buffer", "TLS+connect", "flush", "stats", "disconnect", "sleep")
MODE = {"esp8266": "pin", "esp32": "ca"}


class Wakes:
    def __init__(self, board, broker_args, workdir):
        """broker_args: host, port, ca_der, user, password, server_hostname, pins."""
        self.board = board
        self.tmp = workdir
        self.sim = workdir / "sim"
        self.sim.mkdir(parents=True)
        args = dict(broker_args)
        pins = args.pop("pins", ())
        self.args = dict(args, tls_mode=MODE[board.name],
                         pins=list(pins) if MODE[board.name] == "pin" else (),
                         board=board.name, wifi={"ssid": "lab", "password": "secret"})

    def bundle(self, name, **node):
        opts = {"interval_s": 60, "stats_every_s": 0}
        opts.update(node)
        return provision.write_bundle(self.tmp / name, DEVICE, node=opts, **self.args)

    def run(self, bundle, heap=ROOMY, sim=None, **kw):
        return EmuNode(self.board, bundle, sim or self.sim, heapsize=heap, **kw).wake(timeout=60)

    def _advance(self, seconds, sim=None):
        clock = (sim or self.sim) / "clock"
        clock.write_text(str(float(clock.read_text()) + seconds))

    def usual(self):
        """The wake after a first one: one reading, nothing buffered, the session there."""
        self.run(self.bundle("first"))
        self._advance(60)
        return self.bundle("usual")

    def flush(self):
        """A wake that finds BACKLOG readings in flash (taken offline by the first wake),
        takes one more, publishes stats and, being the first to reach the broker, announces the
        Home Assistant discovery configs."""
        (self.sim / "wifi-off").touch()
        self.run(self.bundle("offline", readings_per_wake=BACKLOG, rtc_batch=0))
        (self.sim / "wifi-off").unlink()
        self._advance(60)
        return self.bundle("flush", stats_every_s=1)

    def _trial(self):
        trial = self.tmp / "trial"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(self.sim, trial)
        return trial

    def attempt(self, bundle, heap, **kw):
        """The wake at `heap`, from the state prepared (kept for another attempt)."""
        return self.run(bundle, heap, sim=self._trial(), **kw)

    def next_wake(self, heap):
        """The usual wake that follows the last attempt, on the board as it left it."""
        trial = self.tmp / "trial"
        self._advance(60, trial)
        return self.run(self.bundle("usual"), heap, sim=trial)

    def smallest(self, bundle, ok, step=128, confirm=3):
        """The smallest -X heapsize (to `step` bytes) at which ok(wake) holds, bisected, then
        confirmed by `confirm` more wakes (bisection assumes success grows with the heap)."""
        lo, hi = 8192, ROOMY
        if not ok(self.attempt(bundle, hi)):
            raise RuntimeError(f"the {self.board.name} wake fails even with {hi} B of heap")
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if ok(self.attempt(bundle, mid)):
                hi = mid
            else:
                lo = mid
        for _ in range(32):
            if all(ok(self.attempt(bundle, hi)) for _ in range(confirm)):
                return hi
            hi += step
        raise RuntimeError(f"no heap size near {hi} B lets the {self.board.name} wake succeed")

    def live(self, bundle):
        """[(phase, live heap after it)] of the wake at a large heap (wake_probe, collecting)."""
        out = self.tmp / "probe.jsonl"
        out.unlink(missing_ok=True)
        self.attempt(bundle, ROOMY, probe=True, probe_out=out, collect=True)
        if not out.exists():
            return []
        return [(m[0], m[3]) for m in json.loads(out.read_text().splitlines()[-1])["marks"]]

    def where_it_broke(self, bundle, heap, failed):
        """The phase a wake broke in at `heap` and the live heap after each phase (at a large
        heap), as words for a failure message."""
        marks = re.findall(r"^PROBE (\S+) \d+", self.attempt(bundle, heap, probe=True).output, re.M)
        done = [p for p in PHASES if p in marks]
        broke_in = PHASES[len(done)] if len(done) < len(PHASES) else "after the wake"
        why = [line for line in failed.output.splitlines()
               if "EMU:" in line or "Error" in line or "failed" in line][-3:]
        return (f"broke in phase {broke_in!r} ({'; '.join(why) or 'no error printed'}); live heap "
                f"after each phase at a large heap: "
                + ", ".join(f"{phase} {live:,} B" for phase, live in self.live(bundle)))


def delivered(w):
    """The wake slept holding nothing undelivered, with no error on the way."""
    return (w.outcome == "slept" and "(buffered 0 in flash, 0 in RTC memory)" in w.output
            and "failed" not in w.output and "Traceback" not in w.output)


def taken(output):
    return {int(n) for n in re.findall(r"node: reading n=(\d+)", output)}
