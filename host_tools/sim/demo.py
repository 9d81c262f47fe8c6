"""`demo`: the product working on this machine, no board needed, in well under a minute.

Everything lives under build/demo/, apart from the real setup: its own development CA and
broker certificate (certs/), the broker files `broker config` writes (broker/: client ids bound
to logins, the device ACL, TLS 1.2), and the firmware as device "demo-node" on the unix board
(devices/), waking every 60 s of compressed time (host_tools.sim.simnode). In the middle the
broker is stopped for a stretch: readings pile up in RTC memory and the flash ring buffer while
the node backs off, then flush when the broker is back. A monitor with a persistent session
prints what arrives; a summary line closes it. Everything started here is stopped before it
returns, and certs/ is never touched.
"""

import json
import secrets
import shutil
from pathlib import Path

from ..broker.process import Mosquitto, free_port, port_is_free
from ..broker.site import BrokerDir
from ..device import provision
from ..errors import UserError
from ..pki import Pki
from . import wakelog
from .monitor import Monitor
from .simnode import SimNode

DEVICE = "demo-node"
MONITOR = "demo-monitor"
PORT = 8883                # the usual TLS port, when it is free


def _say(msg):
    print(f"demo: {msg}", flush=True)


def _echo(msg):
    kind = msg.topic.rsplit("/", 1)[-1]
    try:
        doc = json.loads(msg.payload)
    except ValueError:
        doc = {}
    if kind == "readings":
        print(f"  monitor <- reading #{doc.get('seq')} temp {doc.get('temp_c')} C "
              f"rh {doc.get('rh')} %{'  (resent)' if msg.dup else ''}", flush=True)
    elif kind == "stats" or (kind == "status" and doc.get("state") == "offline"):
        print(f"  monitor <- {kind}: {msg.payload.decode(errors='replace')}", flush=True)


def command(ctx, args):
    return run(wakes=args.wakes, outage=(args.wakes * 3 // 10, args.wakes * 6 // 10),
               build_dir=ctx.build_dir)


def _site(work: Path):
    """The demo's certificates, broker files and device, made as a user makes them."""
    pki = Pki(work / "certs")
    made = pki.ensure_dev()
    _say(f"its own development certificates in {pki.root}/" + (f" (made {', '.join(made)})" if made else ""))
    bdir = BrokerDir(work / "broker")
    port = PORT if port_is_free(PORT) else free_port()
    bdir.configure(pki, tls_port=port, bind="127.0.0.1", dev=False)
    password = secrets.token_urlsafe(18)
    bdir.add_login(MONITOR, password, "monitor", replace=True)
    node_dir = work / "devices" / DEVICE
    shutil.rmtree(node_dir / "sim", ignore_errors=True)      # a new board every run
    provision.provision(
        provision.Request(DEVICE, board="unix", host="127.0.0.1", port=port,
                          server_hostname="localhost",
                          node={"interval_s": 60, "rtc_batch": 4, "stats_every_s": 1200}),
        pki=pki, bdir=bdir, root=work / "devices")
    return pki, bdir, port, password, node_dir


def run(wakes=40, outage=(12, 24), build_dir=Path("build")):
    if wakes < 1 or not 0 <= outage[0] <= outage[1]:
        raise UserError("--wakes must be at least 1 and the outage start <= its end")
    pki, bdir, port, monitor_password, node_dir = _site(Path(build_dir) / "demo")
    bdir.log_file.write_bytes(b"")
    broker = Mosquitto(bdir.conf, bdir.log_file)
    broker.start()
    monitor = None
    try:
        _say(f"Mosquitto on 127.0.0.1:{port} (TLS 1.2+, allow_anonymous false, password file, "
             f"ACL, client ids bound to logins); its files in {bdir.root}/, log {bdir.log_file}")
        monitor = Monitor("127.0.0.1", port, pki.ca_cert, MONITOR, monitor_password,
                          client_id=MONITOR, clean_session=False, echo=_echo).start()
        node = SimNode(node_dir)
        _say(f"node {DEVICE} on the unix board, a reading every 60 s (compressed time), "
             f"{wakes} wakes; broker down for wakes {outage[0]} to {outage[1] - 1}")
        taken = []
        for i in range(wakes):
            if i == outage[0]:
                broker.stop()
                _say("broker STOPPED: the node keeps its readings and backs off")
            if i == outage[1]:
                broker.start()
                monitor.wait_ready(10)
                _say("broker back: the node flushes what it kept")
            w = node.wake()
            if w.outcome != "slept":
                raise UserError(f"the node {w.outcome} in wake {i}:\n{w.output}")
            taken += wakelog.taken(w.output)
            print(f"  node    wake {i + 1:2d}: {wakelog.summary(w.output)}", flush=True)
        # The last readings may wait for the monitor's delivery.
        monitor.wait_for(lambda ms: set(taken) <= set(wakelog.seqs(ms)), 10)
        line, lost = wakelog.tally(taken, monitor.messages)
        _say(line)
        return 0 if not lost else 1
    finally:
        if monitor:
            monitor.stop()
        broker.stop()
        _say("broker stopped; everything the demo started has ended")
