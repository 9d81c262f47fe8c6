"""`demo`: the product working on this machine, no board needed, in well under a minute.

Dev certificates (made once in certs/), a local Mosquitto over TLS with passwords and an ACL,
and the firmware as device "demo-node" on the unix board, waking every 60 s of compressed
time (host_tools.simnode). In the middle the broker is stopped for a stretch: readings pile up
in RTC memory and the flash ring buffer while the node backs off, then flush when the broker is
back. A monitor with a persistent session prints what arrives; a summary line closes it.
Everything started here is stopped before it returns.
"""

import json
import re
import shutil
from pathlib import Path

from ..broker import mosquitto as mosq
from ..device import provision
from . import localbroker
from ..errors import UserError
from .monitor import Monitor
from ..pki import Pki
from .simnode import SimNode

DEVICE = "demo-node"
MONITOR = "demo-monitor"


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


def run(wakes=40, outage=(12, 24), certs_dir=Path("certs"), build_dir=Path("build")):
    if wakes < 1 or not 0 <= outage[0] <= outage[1]:
        raise UserError("--wakes must be at least 1 and the outage start <= its end")
    pki = Pki(Path(certs_dir))
    made = pki.ensure_dev()
    _say(f"dev certificates in {certs_dir}/" + (f" (made {', '.join(made)})" if made else ""))

    port = 8883 if mosq.port_is_free(8883) else None   # the seeds' port when it is free
    work = Path(build_dir) / "demo"
    broker = localbroker.prepare(work / "broker", pki, devices=[DEVICE], monitors=[MONITOR],
                                 tls_port=port, autosave_interval=1)
    broker.config.log_file.write_bytes(b"")
    node_dir = Path(build_dir) / "devices" / DEVICE
    shutil.rmtree(node_dir / "sim", ignore_errors=True)      # a new board every run
    provision.write_bundle(
        node_dir, DEVICE, host="127.0.0.1", port=broker.tls_port, ca_der=pki.ca_der,
        user=DEVICE, password=broker.users[DEVICE], server_hostname="localhost",
        node={"interval_s": 60, "rtc_batch": 4, "stats_every_s": 1200})
    broker.start()
    monitor = None
    try:
        _say(f"Mosquitto on 127.0.0.1:{broker.tls_port} (TLS 1.2+, allow_anonymous false, "
             f"password file, ACL); log in {broker.config.log_file}")
        monitor = Monitor("127.0.0.1", broker.tls_port, pki.ca_cert, MONITOR, broker.users[MONITOR],
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
            taken += [int(n) for n in re.findall(r"node: reading n=(\d+)", w.output)]
            print(f"  node    wake {i + 1:2d}: {_summary(w.output)}", flush=True)
        # The last readings may wait for the monitor's delivery.
        monitor.wait_for(lambda ms: set(taken) <= _seqs(ms), 10)
        seqs = [s for s in (_seq(m) for m in monitor.messages) if s is not None]
        lost = sorted(set(taken) - set(seqs))
        _say(f"readings taken {len(taken)}, delivered {len(set(seqs))}, "
             f"duplicates {len(seqs) - len(set(seqs))}, lost {len(lost)}")
        return 0 if not lost else 1
    finally:
        if monitor:
            monitor.stop()
        broker.stop()
        _say("broker stopped; everything the demo started has ended")


def _summary(output):
    parts = []
    n = re.findall(r"node: reading n=(\d+)", output)
    if n:
        parts.append("reading #" + ",".join(n))
    m = re.search(r"delivery failed \((\w+): .*?\); try (\d+)", output)
    if m:
        parts.append(f"broker unreachable ({m.group(1)}), try {m.group(2)}")
    m = re.search(r"stored n=([\d,]+) in flash", output)
    if m:
        parts.append(f"{len(m.group(1).split(','))} readings written to flash in one batch")
    m = re.search(r"node: sleeping (\d+) s \(buffered (\d+) in flash, (\d+) in RTC memory\)", output)
    if m:
        parts.append(f"kept {m.group(2)} in flash + {m.group(3)} in RTC, sleeps {m.group(1)} s")
    return "; ".join(parts)


def _seq(m):
    if not m.topic.endswith("/readings"):
        return None
    try:
        return json.loads(m.payload)["seq"]
    except (ValueError, KeyError):
        return None


def _seqs(messages):
    return {s for s in (_seq(m) for m in messages) if s is not None}
