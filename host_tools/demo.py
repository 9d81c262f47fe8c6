"""`demo`: the whole path on this machine, no board needed.

Dev certificates (made once in certs/), a local Mosquitto over TLS with passwords and an ACL,
the firmware running on the unix port as device "demo-node", and a host monitor that prints
what the broker delivered. Everything started here is stopped before it returns.
"""

import json
import subprocess
from pathlib import Path

from . import broker as mosq
from . import localbroker, provision, unixport
from .errors import UserError
from .monitor import Monitor
from .pki import Pki

DEVICE = "demo-node"
MONITOR = "demo-monitor"


def _say(msg):
    print(f"demo: {msg}", flush=True)


def run(readings=5, certs_dir=Path("certs"), build_dir=Path("build")):
    if readings < 1:
        raise UserError("--readings must be at least 1")
    pki = Pki(Path(certs_dir))
    made = pki.ensure_dev()
    _say(f"dev certificates in {certs_dir}/" + (f" (made {', '.join(made)})" if made else ""))

    # The seeds' port 8883 when it is free, else any free one.
    port = 8883 if mosq.port_is_free(8883) else None
    broker = localbroker.prepare(Path(build_dir) / "demo" / "broker", pki, devices=[DEVICE],
                                 monitors=[MONITOR], tls_port=port)
    broker.config.log_file.write_bytes(b"")
    broker.start()
    try:
        _say(f"Mosquitto on 127.0.0.1:{broker.tls_port} (TLS 1.2+, allow_anonymous false, "
             f"password file, ACL), log in {broker.config.log_file}")
        node_dir = provision.write_bundle(
            Path(build_dir) / "devices" / DEVICE, DEVICE, host="127.0.0.1", port=broker.tls_port,
            ca_der=pki.ca_der, user=DEVICE, password=broker.users[DEVICE], server_hostname="localhost",
            node={"readings_per_wake": readings},
        )
        with Monitor("127.0.0.1", broker.tls_port, pki.ca_cert, MONITOR, broker.users[MONITOR],
                     topics=("nodes/#",)) as mon:
            _say(f"monitor subscribed to nodes/#; starting the node on the unix port ({node_dir})")
            try:
                proc = unixport.run([str(unixport.FIRMWARE / "main.py")],
                                    env={"NODE_DIR": str(node_dir.resolve())}, timeout=60)
            except subprocess.TimeoutExpired:
                raise UserError("the node did not finish within 60 s: see the broker log above") from None
            for line in (proc.stdout + proc.stderr).splitlines():
                print(f"  node | {line}")
            if proc.returncode != 0:
                raise UserError(f"the node exited with status {proc.returncode}; broker log: "
                                f"{broker.config.log_file}")
            mon.wait_count(readings, timeout=10)
            for m in mon.messages:
                print(f"  broker delivered {m.topic} (QoS {m.qos}): {m.payload.decode(errors='replace')}")
        seqs = {json.loads(m.payload).get("seq") for m in mon.messages}
        lost = readings - len(seqs)
        _say(f"{readings} readings taken, {len(mon.messages)} delivered, {lost} lost")
        return 0 if lost == 0 else 1
    finally:
        broker.stop()
        _say("broker stopped")
