"""A whole node under test: a real Mosquitto, the firmware on the unix board run wake after
wake (host_tools.simnode), optionally through a TCP proxy, and a monitor with a persistent
session that records everything the broker delivers (also across broker restarts)."""

import json
import re
import shutil
import tempfile
from pathlib import Path

from host_tools import provision, unixport
from host_tools.monitor import Monitor
from host_tools.simnode import SimNode

from tcpproxy import TcpProxy

DEVICE = "node-1"

# What the node holds, read by MicroPython from a copy of its flash image (opening the ring
# buffer may repair a torn commit: the node's own image stays as the power left it) and from
# its RTC memory.
CUSTODY_REPORT = """
import json, vfs
from simflash import SimFlash
from node import reading
from node.ringbuf import RingBuffer
from node.state import State
chip = SimFlash(blocks=128, path=%r)
vfs.mount(vfs.VfsLfs2(chip), "/flash")
ring = RingBuffer("/flash/ring", %d)
records = [r for _, r in ring.peek(100000)]
try:
    with open(%r, "rb") as f:
        rtc = State.decode(f.read()).pending
except OSError:
    rtc = []
try:
    with open("/flash/numbers") as f:
        numbers = f.read()
except OSError:
    numbers = None
print(json.dumps({"buffered": len(ring), "next_seq": ring.next_seq,
                  "records": [r.hex() for r in records],
                  "flash": [reading.number(r) for r in records],
                  "rtc": [reading.number(r) for r in rtc], "numbers": numbers}))
"""

# RTC memory with some fields changed, written by MicroPython's node.state.
RTC_EDIT = """
from node.state import State
with open(%r, "rb") as f:
    st = State.decode(f.read())
assert not st.reset_reason, st.reset_reason
for name, value in %r.items():
    setattr(st, name, value)
with open(%r, "wb") as f:
    f.write(st.encode())
"""


class NodeSim:
    def __init__(self, tmp_path, broker, node_opts=None, mqtt_opts=None, proxy=False, heapsize=None,
                 monitor=True, bundle=None, device=DEVICE):
        """bundle: write_bundle arguments to override (tls_mode, pins, ca_der, port, ...);
        monitor=False for a broker a host client cannot log in to (a broken certificate)."""
        self.broker = broker
        self.device = device
        self.proxy = TcpProxy(broker.tls_port) if proxy else None
        port = self.proxy.port if proxy else broker.tls_port
        self.node_opts = {"interval_s": 60, "stats_every_s": 100000}
        self.node_opts.update(node_opts or {})
        args = dict(host="127.0.0.1", port=port, ca_der=broker.ca_der, user=device,
                    password=broker.users[device], server_hostname="localhost",
                    node=self.node_opts, mqtt_extra=mqtt_opts)
        args.update(bundle or {})
        self.bundle = provision.write_bundle(tmp_path / device, device, **args)
        self.node = SimNode(self.bundle, heapsize=heapsize)
        self.monitor = None
        if monitor:
            self.monitor = Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor",
                                   broker.users["monitor"], client_id="test-monitor",
                                   clean_session=False).start()

    def close(self):
        if self.monitor:
            self.monitor.stop()
        if self.proxy:
            self.proxy.close()

    def wake(self, **kw):
        w = self.node.wake(**kw)
        assert w.outcome != "crashed", w.output
        return w

    def command(self, name, payload=""):
        """Send a command to the node (QoS 1: the broker keeps it while the node sleeps)."""
        assert self.monitor.wait_ready(15), "monitor not connected"
        self.monitor.client.publish(self.topic("cmd/" + name), payload, qos=1).wait_for_publish(10)

    # --- what the broker delivered ---

    def topic(self, name):
        return f"nodes/{self.device}/{name}"

    def messages(self, name):
        return [m for m in self.monitor.messages if m.topic == self.topic(name)]

    def seqs(self, since=0):
        """Reading numbers delivered, in order (since: from the monitor's since-th message)."""
        return [json.loads(m.payload)["seq"] for m in self.monitor.messages[since:]
                if m.topic == self.topic("readings")]

    def wait_seqs(self, wanted, timeout=15):
        """Wait until every reading number in `wanted` was delivered."""
        wanted = set(wanted)
        return self.monitor.wait_for(lambda _: wanted <= set(self.seqs()), timeout)

    def last_json(self, name):
        msgs = self.messages(name)
        return json.loads(msgs[-1].payload) if msgs else None

    # --- what the node said and holds ---

    def taken(self, wakes=None):
        return _numbers(r"node: reading n=(\d+)", wakes or self.node.wakes)

    def stored(self, wakes=None):
        out = []
        for w in wakes or self.node.wakes:
            for group in re.findall(r"node: stored n=([\d,]+) in flash", w.output):
                out += [int(x) for x in group.split(",")]
        return out

    def flash(self):
        """What the node holds: the ring buffer on its flash image ("buffered", "next_seq",
        "records" in hex, "flash": their reading numbers), the readings waiting in its RTC
        memory ("rtc") and the ceiling of the reading numbers handed out ("numbers", as
        node.ledger keeps it in flash), read by MicroPython."""
        sim_dir = self.node.sim_dir
        with tempfile.TemporaryDirectory() as tmp:
            image = Path(tmp) / "flash.img"
            shutil.copyfile(sim_dir / "flash.img", image)
            script = CUSTODY_REPORT % (str(image), self.node_opts.get("buffer_bytes", 32768),
                                       str(sim_dir / "rtc.bin"))
            proc = unixport.run(["-c", script], timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def edit_rtc(self, **fields):
        """Change fields of the state in the node's RTC memory (node.state.FIELDS)."""
        rtc = str(self.node.sim_dir / "rtc.bin")
        proc = unixport.run(["-c", RTC_EDIT % (rtc, fields, rtc)], timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def custody(self):
        """The reading numbers the node holds, in flash and in RTC memory: a set."""
        held = self.flash()
        return set(held["flash"]) | set(held["rtc"])

    def keep_board(self, to):
        """Copy the board's files (flash image, RTC memory, clock, ...) to folder `to`, for
        restore_board(): wakes run again and again from the same state."""
        shutil.copytree(self.node.sim_dir, to)
        return to

    def restore_board(self, kept):
        shutil.rmtree(self.node.sim_dir)
        shutil.copytree(kept, self.node.sim_dir)

    def drain(self, max_wakes=10):
        """Wake until the node holds nothing undelivered (it reports it at sleep)."""
        for _ in range(max_wakes):
            w = self.wake()
            if "(buffered 0 in flash, 0 in RTC memory)" in w.output and "failed" not in w.output:
                return w
        raise AssertionError("the node still holds readings after %d wakes:\n%s" % (max_wakes, w.output))


def _numbers(pattern, wakes):
    out = []
    for w in wakes:
        out += [int(x) for x in re.findall(pattern, w.output)]
    return out
