"""Whole wakes of the firmware (firmware/main.py on the unix board, host_tools.simnode) against
a local Mosquitto over TLS: time, bytes on the wire, and flash per reading. (What a wake takes
of a board's heap: bench_boards, on the board emulators.)

Each wake is one process, as on a board each wake starts from reset: imports, config, the
ring buffer on the simulated flash, TLS (CA and name checked), CONNECT with the persistent
session, the readings, status, DISCONNECT, state to RTC memory, deep sleep (the process exits).
bench/device/wake_probe.py runs main.py with hooks that record time, heap and the flash chip's
counters (bench/host/simwake.py); figures of the firmware alone come from runs without it.

Time and bytes: the usual wake (one new reading, nothing buffered), from process start to
deep sleep; bytes on the wire through a counting proxy between node and broker.

Flash: per reading, for node.durable false (default) and true, a node online (OWAKES wakes)
and offline (Wi-Fi off until it took OFFLINE readings, then back until it holds nothing), with
the firmware's ring buffer and, in the same wakes, a naive queue (bench/device/naive_queue.py).
"""

import re
import shutil
import subprocess
import time

from host_tools import build, provision, unixport

from .count_proxy import CountingProxy
from .figures import Figure
from .rig import DEVICE, DEVICE_DIR, Rig, firmware_defaults, median
from .simwake import BenchNode, delivered_all

TIME_RUNS = 15
BYTES_RUNS = 5
OWAKES = 100
OFFLINE = 360           # readings taken offline (6 hours at the default interval): forty RTC
                        # batches of rtc_batch + 1 (default 8)
STATS_NEVER = 0          # stats_every_s 0: the hourly stats message never due
RECORD = 16             # bytes of one reading (node.reading: n, t, two values)
BLOCK = 4096


def _taken(w):
    return len(re.findall(r"node: reading n=\d+", w.output))


def _stored(w):
    return sum(len(g.split(",")) for g in re.findall(r"node: stored n=([\d,]+) in flash", w.output))


class _Setup:
    def __init__(self, ctx, rig, broker):
        self.work = ctx.workdir
        self.rig = rig
        self.broker = broker
        self.mpy = build.build(out=self.work / "mpy").out
        self.source = unixport.FIRMWARE

    def bundle(self, name, port=None, **node):
        return provision.write_bundle(
            self.work / name, DEVICE, host="127.0.0.1", port=port or self.broker.tls_port,
            ca_der=self.rig.pki.ca_der, user=DEVICE, password=self.rig.password,
            server_hostname="localhost", node=node or None)

    def node(self, bundle, sim, **kw):
        sim = self.work / f"sim-{sim}"
        shutil.rmtree(sim, ignore_errors=True)
        return BenchNode(bundle, sim, **kw)


def _wake_ok(node, what):
    w = node.wake(timeout=60)
    if w.outcome != "slept":
        raise RuntimeError(f"{what}: the node did not reach deep sleep:\n{w.output}")
    return w


# --- time and bytes -----------------------------------------------------------------------

def _empty_process(env):
    t0 = time.monotonic()
    subprocess.run([unixport.interpreter(), "-c", "pass"], env=env, check=True, capture_output=True)
    return time.monotonic() - t0


def _time_and_bytes(s):
    window = firmware_defaults()["mqtt"]["window"]
    bundle = s.bundle("usual", stats_every_s=STATS_NEVER)
    plain = s.node(bundle, "usual", code_dir=s.mpy)
    _wake_ok(plain, "usual wake: first wake")       # formats the flash, makes the session
    probe = BenchNode(bundle, plain.sim_dir, code_dir=s.mpy, probe=True)
    source = BenchNode(bundle, plain.sim_dir, code_dir=s.source)
    walls, insides, src_walls, empties, raw_inside = [], [], [], [], []
    env = plain._env()
    for _ in range(TIME_RUNS):
        for runner, into in ((plain, walls), (source, src_walls)):
            w = runner.wake(timeout=60)
            if not delivered_all(w) or _taken(w) != 1:
                raise RuntimeError(f"usual wake failed:\n{w.output}")
            into.append(w.seconds * 1000)
        w, rec = probe.probe_wake(timeout=60)
        if not delivered_all(w) or rec is None:
            raise RuntimeError(f"usual wake (probe) failed:\n{w.output}")
        insides.append(rec["t_us"] / 1000)
        empties.append(_empty_process(env) * 1000)
        raw_inside.append(_raw_wake(s, s.broker.tls_port, window) / 1000)

    proxy = CountingProxy(s.broker.tls_port)
    try:
        counted = s.node(s.bundle("usual-proxy", port=proxy.port, stats_every_s=STATS_NEVER),
                         "usual-proxy", code_dir=s.mpy)
        _wake_ok(counted, "usual wake through the proxy: first wake")
        proxy.settle()
        ups, downs = [], []
        for _ in range(BYTES_RUNS):
            w = counted.wake(timeout=60)
            if not delivered_all(w):
                raise RuntimeError(f"usual wake through the proxy failed:\n{w.output}")
            up, down, conns = proxy.settle()
            if conns != 1:
                raise RuntimeError(f"expected one connection per wake, saw {conns}")
            ups.append(up)
            downs.append(down)
        raw_up, raw_down = [], []
        for _ in range(BYTES_RUNS):
            _raw_wake(s, proxy.port, window)
            up, down, _ = proxy.settle()
            raw_up.append(up)
            raw_down.append(down)
    finally:
        proxy.close()
    return {"wall": median(walls), "inside": median(insides), "source_wall": median(src_walls),
            "empty": median(empties), "raw_inside": median(raw_inside),
            "up": median(ups), "down": median(downs), "raw_up": median(raw_up),
            "raw_down": median(raw_down), "marks": rec["marks"]}


def _raw_wake(s, port, window):
    proc = unixport.run([str(DEVICE_DIR / "raw_wake.py"), "localhost", str(port), DEVICE, s.rig.password,
                         "1", str(window)], cwd=s.rig.device_dir, timeout=30, path_extra=[DEVICE_DIR])
    for line in proc.stdout.splitlines():
        if line.startswith("RAW "):
            return int(line.split()[1])
    raise RuntimeError(f"raw_wake.py failed:\n{proc.stdout}{proc.stderr}")


def _time_figures(t):
    steps = []
    last = 0
    for name, us, _ in t["marks"]:
        steps.append(f"{name} {(us - last) / 1000:.1f}")
        last = us
    return [
        Figure("full wake, process start to deep sleep (.mpy)", round(t["wall"], 1), "ms",
               "empty micropython process (start and exit)", round(t["empty"], 1),
               f"the usual wake: one new reading, nothing buffered, no stats message; median of "
               f"{TIME_RUNS}, wall clock around the process; on the unix port `micropython` is a "
               f"CPython wrapper (the empty process's {t['empty']:.0f} ms are mostly its start), "
               f"which a board does not have; as source {t['source_wall']:.1f} ms"),
        Figure("full wake inside MicroPython, main.py start to deep sleep (.mpy)", round(t["inside"], 1),
               "ms", "raw floor wake script (TLS + CONNECT + PUBLISH + DISCONNECT), same span",
               round(t["raw_inside"], 1),
               f"the process start and the CPython wrapper left out: time.ticks_us() from the "
               f"script's first line (bench/wake_probe.py) to deep sleep, median of {TIME_RUNS}; "
               f"ms per phase: {', '.join(steps)}; loopback: a real network adds its round trips"),
        Figure("bytes on the wire, full wake (both directions)", t["up"] + t["down"], "bytes",
               "raw floor wake script, same proxy", t["raw_up"] + t["raw_down"],
               f"TCP payload counted by a proxy between node and broker, median of {BYTES_RUNS}: "
               f"node to broker {t['up']:.0f}, broker to node {t['down']:.0f} (floor "
               f"{t['raw_up']:.0f} / {t['raw_down']:.0f}); TLS 1.2 with the broker's RSA-2048 "
               "certificate chain; the wake also sends its status twice (online, sleeping; "
               "retained) and a PINGREQ that collects queued commands"),
    ]


# --- flash ---------------------------------------------------------------------------------

def _flash_run(s, durable, queue, online):
    """Flash programmed and erased by the wakes of one scenario; see the module docstring."""
    name = f"flash-{'durable' if durable else 'default'}-{queue}-{'on' if online else 'off'}"
    bundle = s.bundle(name, durable=durable)
    node = s.node(bundle, name, code_dir=s.mpy, probe=True, queue=queue)

    def wake(what):
        w, rec = node.probe_wake(timeout=60)
        if w.outcome != "slept" or rec is None or "Traceback" in w.output:
            raise RuntimeError(f"flash, {name}, {what}:\n{w.output}")
        return w, rec

    wake("first wake")              # formats the flash, reserves reading numbers
    got = {"programmed": 0, "erases": 0, "taken": 0, "stored": 0}
    if online:
        for _ in range(OWAKES):
            w, rec = wake("online")
            if not delivered_all(w):
                raise RuntimeError(f"flash, {name}: an online wake did not deliver:\n{w.output}")
            got["programmed"] += rec["flash"][1]
            got["erases"] += rec["flash"][2]
            got["taken"] += _taken(w)
        # A cold boot (power loss) reserves a block of reading numbers in flash, as every
        # 1,024 readings do.
        node.power_loss()
        w, rec = wake("cold boot")
        got["cold_boot"] = rec["flash"][1:]
        return got
    node.set_wifi(False)
    for _ in range(OFFLINE * 4):
        w, rec = wake("offline")
        got["programmed"] += rec["flash"][1]
        got["erases"] += rec["flash"][2]
        got["taken"] += _taken(w)
        got["stored"] += _stored(w)
        if got["taken"] >= OFFLINE:
            break
    if got["taken"] != OFFLINE:
        raise RuntimeError(f"flash, {name}: took {got['taken']} readings offline, not {OFFLINE}")
    node.set_wifi(True)
    back = {"programmed": 0, "erases": 0, "taken": 0, "stored": 0}
    for _ in range(10):
        w, rec = wake("back online")
        back["programmed"] += rec["flash"][1]
        back["erases"] += rec["flash"][2]
        back["taken"] += _taken(w)
        back["stored"] += _stored(w)
        if delivered_all(w):
            break
    else:
        raise RuntimeError(f"flash, {name}: still holding readings after 10 wakes:\n{w.output}")
    got["back"] = back
    return got


def _flash(s):
    out = {}
    for durable in (False, True):
        for queue in ("ring", "naive"):
            for online in (True, False):
                out[(durable, queue, online)] = _flash_run(s, durable, queue, online)
    return out


def _flash_figures(f):
    ref = "naive queue, same wakes"
    cold = f[(False, "ring", True)]["cold_boot"]
    rtc_batch = firmware_defaults()["node"]["rtc_batch"]
    floor = (f"physical floor: a reading is {RECORD} bytes, {RECORD / BLOCK:.4f} of a "
             f"{BLOCK}-byte erase block")

    def per_taken(d, key):
        return d[key] / d["taken"]

    def through(d, key):
        # the offline stretch and the wakes that delivered it, per reading that went through flash
        return (d[key] + d["back"][key]) / (d["stored"] + d["back"]["stored"])

    def notes(situation, durable):
        if situation == "online":
            return (f"{OWAKES} wakes, one reading each, acknowledged in its wake; "
                    + ("each is stored in the ring buffer before it is sent: a segment file "
                       "made, the head file written at the ack, the emptied segment removed"
                       if durable else "it never touches flash")
                    + f"; not counted: the first wake (formats the flash) and the reading-number "
                    f"reservation ({cold[0]} B, {cold[1]} erases after a power loss and once per "
                    "1,024 readings). The naive queue (bench/naive_queue.py): the backlog in one "
                    "file rewritten whole on every change, in place of the ring buffer in the same "
                    "firmware and wakes")
        if situation == "offline":
            return (f"Wi-Fi off until the node took {OFFLINE} readings (6 h at the default "
                    "interval, wakes on the backoff schedule), per reading taken; "
                    + ("each is stored in flash on its own wake" if durable else
                       f"they wait in RTC memory and go to flash {rtc_batch + 1} at a time, "
                       "each commit copying the segment's written part to a fresh block")
                    + f"; {floor}")
        d = f[(durable, "ring", False)]["back"]
        return (f"the offline stretch above, then the wakes that delivered it (their acks: "
                f"{d['programmed']} B, {d['erases']} erases), per reading that went through flash"
                + (" (the new reading of the wake it came back on included)" if durable else ""))

    figs = []
    for situation, fn, online_flag in (("online", per_taken, True), ("offline", per_taken, False),
                                       ("buffered and then acknowledged", through, False)):
        for durable in (False, True):
            setting = "durable" if durable else "default"
            ring, naive = f[(durable, "ring", online_flag)], f[(durable, "naive", online_flag)]
            for key, what, unit in (("programmed", "bytes programmed", "bytes"),
                                    ("erases", "erases", "erases")):
                figs.append(Figure(f"flash {what} per reading, {situation}, {setting}",
                                   round(fn(ring, key), 4), unit, ref, round(fn(naive, key), 4),
                                   notes(situation, durable) if key == "programmed" else ""))
    return figs


def run(ctx):
    rig = Rig(ctx.workdir)
    try:
        s = _Setup(ctx, rig, rig.broker())
        timing = _time_and_bytes(s)
        flash = _flash(s)
    finally:
        rig.close()
    return _time_figures(timing) + _flash_figures(flash)

