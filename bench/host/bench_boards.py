"""What a wake takes of a board's heap, on the board emulators (emu/): the esp8266 one (the node
frozen, axTLS in the GC heap, pin mode) and the esp32 one (the node as .mpy, mbedtls outside
the GC heap, CA mode), against a local Mosquitto over TLS. Every figure stands next to
umqtt.robust (micropython-lib) doing TLS, CONNECT, one QoS 1 publish and DISCONNECT in the same
emulator: the least a node can do.

- smallest heap (-X heapsize, bisected to 128 B and confirmed by 3 more wakes) of the usual
  wake (one reading) and of a wake that flushes 10 buffered readings and publishes stats;
- live heap after each phase of both (bench/device/wake_probe.py, collecting at each mark, at
  a large heap);
- each module's RAM once imported, frozen (esp8266 emulator), and its .mpy bytes;
- the MQTT client alone as .mpy on the 64-bit unix port of the test suite (TLS, CONNECT, one
  QoS 1 publish, DISCONNECT), next to umqtt.robust as .mpy.
"""

import json
import os
import re
import subprocess

import emu
from emu import client_alone
from emu.wakes import DEVICE, PHASES, ROOMY, Wakes, delivered
from host_tools import build, unixport

from .figures import Figure
from .rig import DEVICE_DIR, Rig

UMQTT_PHASE = {"imports": "imports", "config+buffer": "imports", "TLS+connect": "connect",
               "flush": "publish", "stats": "publish", "disconnect": "disconnect",
               "sleep": "disconnect"}


def _bisect(ok, lo=4096, hi=ROOMY, step=128, confirm=3):
    if not ok(hi):
        raise RuntimeError(f"fails even with {hi} B of heap")
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if ok(mid):
            hi = mid
        else:
            lo = mid
    for _ in range(32):
        if all(ok(hi) for _ in range(confirm)):
            return hi
        hi += step
    raise RuntimeError(f"no heap size near {hi} B succeeds {confirm} times in a row")


def _umqtt(board, rig, broker, collect=False, heap=ROOMY):
    env = dict(os.environ, MICROPYPATH=".frozen", BENCH_HOST="127.0.0.1",
               BENCH_PORT=str(broker.tls_port), BENCH_USER=DEVICE, BENCH_PASSWORD=rig.password,
               BENCH_PROBE_COLLECT="1" if collect else "")
    if board.name == "esp32":
        env["BENCH_CA"] = str(rig.device_dir / "ca.der")
        env["BENCH_HOST"] = "localhost"
    return subprocess.run([str(board.interpreter), "-X", f"heapsize={heap}", "-m", "umqtt_wake"],
                          env=env, capture_output=True, text=True, timeout=60)


def _umqtt_figures(board, rig, broker):
    smallest = _bisect(lambda h: "UMQTT OK" in _umqtt(board, rig, broker, heap=h).stdout)
    probe = _umqtt(board, rig, broker, collect=True)
    live = {m[0]: int(m[1]) for m in re.findall(r"^PROBE (\S+) \d+ live (\d+)", probe.stderr, re.M)}
    return smallest, live


def _wake_figures(name, board, args, workdir, um_small, um_live):
    figs = []
    mode = "pin mode, frozen" if name == "esp8266" else "CA mode, .mpy"
    ref = f"umqtt.robust: TLS, CONNECT, 1 QoS 1 publish, DISCONNECT ({name} emulator)"
    for kind, what in (("usual", "usual wake (1 reading)"),
                       ("flush", "wake flushing 10 buffered readings + stats")):
        w = Wakes(board, args, workdir / f"{name}-{kind}")
        bundle = getattr(w, kind)()
        smallest = w.smallest(bundle, delivered)
        figs.append(Figure(f"smallest heap, {name}, {what}", smallest, "bytes", ref, um_small,
                           f"{name} emulator ({mode}); -X heapsize bisected to 128 B and confirmed "
                           "by 3 more wakes; every reading delivered"))
        for phase, live in w.live(bundle):
            figs.append(Figure(f"live heap after {phase}, {name}, {kind} wake", live, "bytes",
                               f"umqtt.robust after {UMQTT_PHASE[phase]}",
                               um_live.get(UMQTT_PHASE[phase], 0),
                               "after gc.collect() at the end of the phase, at a large heap "
                               "(bench/device/wake_probe.py)" if phase == PHASES[0] else ""))
    return figs


def _module_figures(board8266):
    made = build.build(out=emu.OUT.parent / "bench-modules")
    sizes = {m.path[:-4]: m.size for m in made.modules if m.compiled}
    # board/esp*.py need the boards' machine and network: their .mpy size only.
    names = [p for p in sizes if not p.startswith("node/board/esp")]
    # Modules that import fewer of the node's own come first, so that each row is about the
    # module itself and not what it pulls in (app, which imports the most, comes last).
    firmware = unixport.FIRMWARE
    names.sort(key=lambda p: (len(re.findall(r"^(?:from|import) node\b", (firmware / (p + ".py"))
                                             .read_text(), re.M)), p))
    proc = subprocess.run([str(board8266.interpreter), str(DEVICE_DIR / "module_ram.py"),
                           "umqtt.simple", "umqtt.robust"] + [p.replace("/", ".") for p in names],
                          env=dict(os.environ, MICROPYPATH=".frozen"), capture_output=True,
                          text=True, timeout=60)
    if proc.returncode:
        raise RuntimeError(f"module_ram.py failed:\n{proc.stdout}{proc.stderr}")
    ram = json.loads(proc.stdout.strip().splitlines()[-1])
    um_ram = ram["umqtt.simple"] + ram["umqtt.robust"]
    um_mpy = _umqtt_mpy_size()
    figs = []
    for path in names:
        figs.append(Figure(f"frozen RAM, {path}", ram[path.replace("/", ".")], "bytes",
                           "umqtt.simple + umqtt.robust, frozen", um_ram,
                           "esp8266 emulator; the modules imported one after the other, those "
                           "that import fewer of the node's own first (a module's imports count "
                           "where they are first imported); its code stays in flash"
                           if path == names[0] else ""))
    for path, size in sorted(sizes.items()):
        figs.append(Figure(f".mpy bytes, {path}", size, "bytes",
                           "umqtt.simple + umqtt.robust .mpy", um_mpy,
                           "host_tools build (mpy 6.3), as `make flash` copies it to an ESP32"
                           if path == sorted(sizes)[0] else ""))
    return figs


def _umqtt_source():
    src = emu.source()
    if not src:
        raise RuntimeError("no MicroPython source for umqtt: set MICROPYTHON_SRC")
    root = emu.OUT / "src" if not os.path.isdir(os.path.join(src, "lib")) else src
    for base, _, files in os.walk(root):
        if base.endswith(os.path.join("umqtt.simple", "umqtt")) and "simple.py" in files:
            lib = os.path.dirname(os.path.dirname(base))
            return (os.path.join(base, "simple.py"),
                    os.path.join(lib, "umqtt.robust", "umqtt", "robust.py"))
    raise RuntimeError(f"umqtt.simple not found under {root}")


def _umqtt_mpy_size():
    dest = emu.OUT.parent / "bench-umqtt"
    for src, name in zip(_umqtt_source(), ("simple", "robust")):
        client_alone.compile_as_built(src, dest / "umqtt" / f"{name}.mpy", f"umqtt/{name}.py")
    return sum((dest / "umqtt" / f).stat().st_size for f in ("simple.mpy", "robust.mpy"))


def _client_alone(rig, broker):
    """The MQTT client alone, as .mpy on the 64-bit unix port, and umqtt.robust the same way
    (emu/client_alone.py)."""
    code = client_alone.prepare(emu.OUT.parent / "bench-client", umqtt=_umqtt_source())

    def ok(which, heap):
        return client_alone.fits(client_alone.attempt(
            code, which, heap, "localhost", broker.tls_port, DEVICE, rig.password,
            rig.device_dir / "ca.der"))
    ours = _bisect(lambda h: ok("node", h))
    theirs = _bisect(lambda h: ok("umqtt", h))
    return [Figure("smallest heap, MQTT client alone (.mpy, 64-bit unix port)", ours, "bytes",
                   "umqtt.robust (.mpy, 64-bit unix port)", theirs,
                   "TLS (CA mode), CONNECT, one QoS 1 publish, DISCONNECT with node.mqtt.client "
                   "(the firmware as `make flash` builds it), bench/device/client_wake.py; the "
                   "wheel's mbedtls allocates outside the GC heap; target at most "
                   f"{client_alone.BUDGET:,} B")]


def run(ctx):
    boards = emu.ensure()
    rig = Rig(ctx.workdir)
    try:
        broker = rig.broker()
        args = dict(host="127.0.0.1", port=broker.tls_port, ca_der=rig.pki.ca_der, user=DEVICE,
                    password=rig.password, server_hostname="localhost",
                    pins=rig.pki.broker_pins())
        figs = []
        for name in ("esp8266", "esp32"):
            um_small, um_live = _umqtt_figures(boards[name], rig, broker)
            figs += _wake_figures(name, boards[name], args, ctx.workdir, um_small, um_live)
        figs += _module_figures(boards["esp8266"])
        figs += _client_alone(rig, broker)
    finally:
        rig.close()
    return figs
