"""`sim DEVICE`: a provisioned device tried before it is flashed. Its bundle (build/devices/<id>/,
untouched) runs on the unix board against the broker the bundle names, with the device's own
login, TLS mode and pins, wake after wake: in compressed time (the board's clock jumps over each
deep sleep; the default) or at --speed S (S times real time; 1 is real time). --power-loss N
cuts the power at a random moment of wake N (RTC memory is lost, the flash keeps what it held),
--wifi-off A-B keeps Wi-Fi down for wakes A to B. The board (its flash, RTC memory and clock)
lives in build/sim/<id>/ and carries on from one run to the next (--fresh: a new board), so
reading numbers never repeat. The unix board measures with its simulated sensor.

Each wake prints one line, as the demo does, and the run ends with the demo's summary. With a
back end's login (--login NAME, or the MQTT_* settings) it watches the device's readings arrive
and counts deliveries and duplicates from what the broker delivered; without one it says what
the node counted.
"""

import random
import shutil
import time

from ..backend import login as backend_login
from ..device import bundle as bundles
from ..errors import UserError
from . import wakelog
from .monitor import Monitor
from .simnode import SimNode

COMPRESSED_IDLE = 1000      # a connected node's idle time, compressed when no --speed is given


def _say(msg):
    print(f"sim: {msg}", flush=True)


def wake_ranges(specs, wakes, option):
    """{wake number} from "N" or "A-B" items (1-based, within --wakes)."""
    out = set()
    for spec in specs or ():
        first, _, last = str(spec).partition("-")
        try:
            a, b = int(first), int(last or first)
        except ValueError:
            a = b = 0
        if not 1 <= a <= b <= wakes:
            raise UserError(f"{option} {spec}: give a wake number or a range A-B within 1-{wakes}")
        out.update(range(a, b + 1))
    return out


def _watcher(ctx, args, device):
    """A subscriber to the device's readings, as a back end's login; None without one."""
    if not args.login and not ctx.settings().username:
        return None, ("no back-end login to watch the readings arrive (give --login NAME from "
                      "`broker user NAME`): delivery is the node's own count")
    login = backend_login.resolve(ctx, args.login)
    client = backend_login.client(login)
    monitor = Monitor(login.host, login.port, login.ca_certs, login.username, login.password,
                      topics=(f"nodes/{device}/readings",), client=client)
    try:
        monitor.start()
    except UserError as exc:
        raise UserError(f"{exc} (the watcher logged in as {login.describe()})") from None
    return monitor, f"watching nodes/{device}/readings as {login.describe()}"


def command(ctx, args):
    device = args.device
    bundle_dir = ctx.devices_dir / device
    cfg = bundles.read_config(bundle_dir)
    if cfg is None:
        raise UserError(f"no bundle for {device} in {ctx.devices_dir}/: provision it first "
                        f"(`python -m host_tools provision {device} --board ...`)")
    checked = bundles.firmware_validate(cfg)
    if args.wakes < 1:
        raise UserError("--wakes must be at least 1")
    if args.speed is not None and args.speed <= 0:
        raise UserError("--speed must be above 0 (1 is real time; leave it out for compressed "
                        "time)")
    power_loss = wake_ranges(args.power_loss, args.wakes, "--power-loss")
    wifi_off = wake_ranges(args.wifi_off, args.wakes, "--wifi-off")
    sim_dir = ctx.build_dir / "sim" / device
    if args.fresh:
        shutil.rmtree(sim_dir, ignore_errors=True)
    node = SimNode(bundle_dir, sim_dir, idle_speed=args.speed or COMPRESSED_IDLE)
    mqtt, interval = checked["mqtt"], checked["node"]["interval_s"]
    _say(f"{device} ({checked['board']} bundle, TLS {checked['tls']['mode']}) on the unix board "
         f"against {mqtt['host']}:{mqtt['port']}, a reading every {interval} s, {args.wakes} "
         f"wakes in {'compressed time' if not args.speed else f'{args.speed:g} x real time'}; "
         f"the board is {sim_dir}/" + ("" if args.fresh else " (--fresh for a new one)"))
    watcher, how = _watcher(ctx, args, device)
    _say(how)
    taken, last = [], None
    try:
        for i in range(1, args.wakes + 1):
            node.set_wifi(i not in wifi_off)
            kill_after = None
            if i in power_loss:
                typical = last.seconds if last else 0.2
                kill_after = random.uniform(0, typical)
            w = node.wake(timeout=args.timeout, kill_after=kill_after)
            taken += wakelog.taken(w.output)
            parts = ["Wi-Fi down"] if i in wifi_off else []
            parts += [wakelog.summary(w.output) or "nothing taken"]
            if w.outcome == "killed":
                parts.append(f"POWER LOST after {w.seconds * 1000:.0f} ms")
            elif i in power_loss:
                node.power_loss()       # it finished first: the power goes while it sleeps
                parts.append("POWER LOST while asleep")
            print(f"  node    wake {i:2d}: {'; '.join(parts)}", flush=True)
            if w.outcome == "crashed":
                raise UserError(f"the node stopped in wake {i} without going to sleep (on a "
                                f"board it would sit in the REPL):\n{w.output}")
            last = w if w.outcome == "slept" else last
            if args.speed and w.sleep_ms and i < args.wakes:
                waited = w.sleep_ms / 1000 / args.speed
                time.sleep(waited)
                node.host_waited(waited)
    except KeyboardInterrupt:
        _say("stopped")
    finally:
        kept = wakelog.kept(last.output) if last else 0
        if watcher:
            wanted = set(taken)
            watcher.wait_for(lambda ms: len(set(wakelog.seqs(ms)) & wanted) >= len(wanted) - kept,
                             10)
            watcher.stop()
            line, lost = wakelog.tally(taken, watcher.messages, kept)
        else:
            delivered = len(set(taken)) - kept
            line, lost = (f"readings taken {len(set(taken))}, delivered {delivered} (the node's "
                          f"count), duplicates not seen, still kept by the node {kept}"), []
        _say(line)
    return 1 if lost else 0
