"""The mutation check: one-line mutants of the firmware (and of the broker's ACL), each run
against the tests that must catch it. A mutant that passes its tests survived: the tests
cannot see what it breaks. None may survive.

    python tests/mutants.py [-k TEXT] [-j N] [--list]        (make mutants)

Each mutant is applied to a copy of firmware/ and host_tools/ in a temporary folder put first
on PYTHONPATH (host_tools.repo then points every test at the copied firmware): the checkout is
never touched. pytest runs the mutant's tests with -x; any failure kills the mutant. A mutant
whose line is no longer in its file is an error too: the list follows the code
(tests/host/test_mutants.py checks that every line is there, in the ordinary suite).

The list grows with each feature: the line that makes it work, broken, and the tests that
prove it. It takes about 4 minutes (-j 2 on a 2-core machine about half).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("firmware", "host_tools")
TIMEOUT_S = 600


@dataclass
class Mutant:
    name: str
    path: str           # under the checkout
    line: str           # the whole line as it is (without indentation); exactly once in the file
    mutated: str        # what it becomes
    tests: tuple        # pytest arguments: the tests that must catch it


PL = "tests/integration/test_power_loss.py"
NUMBERS = "tests/integration/test_reading_numbers.py"
CYCLES = "tests/integration/test_node_cycles.py"
STALL = "tests/integration/test_faults_stall.py"
TAKEOVER = "tests/integration/test_faults_takeover.py"
FAILED_LOG = 'self.log("node: delivery failed (%s: %s); try %d" % (type(e).__name__, e, st.attempt))'

MUTANTS = (
    # custody of readings (node.ledger, node.app)
    Mutant("durable storage off", "firmware/node/ledger.py",
           'if not self.opt["durable"] and \\', "if True and \\",
           (PL, "-k", "durable and online")),
    Mutant("settle() drops the readings the broker did not acknowledge", "firmware/node/ledger.py",
           "st.pending = [r for r in st.pending if not self.is_acked(r)]", "st.pending = []",
           (PL, "-k", "default and backlog")),
    Mutant("rtc_batch ignored: RTC memory never goes to flash in a batch", "firmware/node/ledger.py",
           'if st.pending and len(st.pending) > self.opt["rtc_batch"]:', "if False:",
           (PL, "-k", "default and backlog")),
    Mutant("a flush acknowledges in flash what the broker did not", "firmware/node/ledger.py",
           "if not ok:", "if ok is None:",
           (STALL, "-k", "swallows and backlog")),
    Mutant("a failed delivery drops its backlog (flash and RTC memory)", "firmware/node/app.py",
           FAILED_LOG, "st.pending = []; self.ledger.in_flash() and self.ledger.ring().ack("
           "self.ledger.ring().next_seq - 1); " + FAILED_LOG,
           (TAKEOVER, "-k", "mid and clean")),
    Mutant("a failed delivery drops what RTC memory holds", "firmware/node/app.py",
           FAILED_LOG, "st.pending = []; " + FAILED_LOG,
           (STALL, "-k", "before_the_node")),
    Mutant("a cold boot forgets the backlog in flash", "firmware/node/ledger.py",
           "state.flash = 1", "state.flash = 0",
           (PL, "-k", "rtc_batch and backlog")),
    Mutant("a full flash drops readings instead of keeping them in RTC memory", "firmware/node/ledger.py",
           "st.pending.append(rec)", "pass",
           ("tests/integration/test_hostile_input.py", "-k", "full")),
    Mutant("the PUBACK of one reading acknowledges the next", "firmware/node/mqtt/client.py",
           "self.on_ack(a)", "self.on_ack(a % 65535 + 1)",
           (CYCLES, "-k", "online_wakes")),
    # reading numbers, packet ids, DUP (node.ledger, node.mqtt.client)
    Mutant("DUP not set on a resend", "firmware/node/ledger.py",
           "return pid, n <= self.st.sent_max", "return pid, False",
           (NUMBERS,)),
    Mutant("DUP not set on what flash carried over a power loss", "firmware/node/ledger.py",
           "state.sent_max = self._ceiling() - 1", "state.sent_max = 0",
           (PL, "-k", "rtc_batch and backlog")),
    Mutant("packet id 0 at reading 65535", "firmware/node/ledger.py",
           "return n % 65535 + 1", "return n % 65535",
           (NUMBERS,)),
    Mutant("reading numbers reused after a power loss", "firmware/node/ledger.py",
           "start = max(st.next_n, self._ceiling())", "start = st.next_n",
           (NUMBERS,)),
    Mutant("no block of numbers reserved in flash", "firmware/node/ledger.py",
           "f.write(str(start + _BLOCK))", "f.write(str(start))",
           (NUMBERS,)),
    Mutant("the client resends without DUP", "firmware/node/mqtt/client.py",
           "pkts[p][0] |= 8             # DUP", "pass",
           ("tests/device/test_mqtt_client.py",)),
    Mutant("the client's packet ids skip 65535", "firmware/node/mqtt/client.py",
           "pid = pid % 65535 + 1", "pid = (pid + 1) % 65535",
           ("tests/device/test_mqtt_client.py", "-k", "wrap")),
    Mutant("more than mqtt.early publishes before CONNACK", "firmware/node/mqtt/client.py",
           "self._flush(pkt, self.early)", "self._flush(pkt)",
           ("tests/device/test_mqtt_robust.py", "-k", "early")),
    # checks on what is read back (node.ringbuf, node.state, node.mqtt.packets)
    Mutant("ring buffer CRC check off", "firmware/node/ringbuf.py",
           "if crc != h[6] | h[7] << 8 | h[8] << 16 | h[9] << 24:", "if False:",
           ("tests/device/test_ringbuf.py",)),
    Mutant("RTC memory CRC check off", "firmware/node/state.py",
           "elif crc32(body) != crc:", "elif False:",
           ("tests/device/test_state.py",)),
    Mutant("an oversized PUBLISH is allocated", "firmware/node/mqtt/receive.py",
           "big = n > max_packet", "big = False",
           ("tests/device/test_mqtt_limits.py",)),
    # authenticating the broker (node.tls, node.tlsstream, node.tlsguard, node.tlshandshake)
    Mutant("pin check off (mbedtls verify callback)", "firmware/node/tls.py",
           "return _X509_FATAL", "return 0",
           ("tests/integration/test_tls_broker.py", "-k", "wrong_pin")),
    Mutant("pin check off (axTLS handshake guard)", "firmware/node/tlshandshake.py",
           "if digest in g._pins or g.key_fingerprint in g._key_pins:", "if True:",
           ("tests/device/test_tls_pin.py",)),
    Mutant("a Certificate list length that lies reaches axTLS", "firmware/node/tlshandshake.py",
           "!= n[_MTOTAL] - 3):", "!= n[_MTOTAL] - 3 and False):",
           ("tests/device/test_tls_pin.py", "-k", "malformed")),
    Mutant("a chain reaches axTLS", "firmware/node/tlshandshake.py",
           "if n[_COUNT] > g._max[0]:", "if False:",
           ("tests/device/test_tls_pin.py", "-k", "chain")),
    Mutant("renegotiation let through", "firmware/node/tlsguard.py",
           "if n[slot] > 1:", "if False:",
           ("tests/device/test_tls_pin.py", "-k", "renegotiation")),
    Mutant("renegotiation let through on mbedtls", "firmware/node/tlsstream.py",
           "self.asked = True                # see seal()", "self.asked = False; return 0",
           ("tests/integration/tls_hostile/test_tls_hostile_protocol.py", "-k",
            "in_answer_to_connect or (before_any_application_data and one)")),
    Mutant("TLS below 1.2 accepted", "firmware/node/tlshandshake.py",
           "if version < 0x0303:", "if False:",
           ("tests/device/test_tls_pin.py", "-k", "below")),
    Mutant("no deadline on the handshake", "firmware/node/tlsstream.py",
           "if left <= 0:", "if False:",
           ("tests/device/test_tls_pin.py", "-k", "deadline")),
    Mutant("CA check off", "firmware/node/tlsmake.py",
           "ctx.verify_mode = tls.CERT_REQUIRED", "ctx.verify_mode = tls.CERT_NONE",
           ("tests/integration/test_tls_broker.py", "-k", "untrusted")),
    Mutant("hostname check off", "firmware/node/tls.py",
           "name = self.server_hostname or server_hostname", "name = None",
           ("tests/integration/test_tls_broker.py", "-k", "wrong_hostname")),
    # waiting, retrying (node.backoff, node.mqtt)
    Mutant("backoff cap off", "firmware/node/backoff.py",
           "if d > cap_ms:", "if False:",
           ("tests/device/test_mqtt_robust.py", "-k", "backoff")),
    Mutant("a wait on the broker never times out", "firmware/node/mqtt/client.py",
           "if clock.ticks_diff(deadline, clock.ticks_ms()) <= 0:", "if False:",
           (STALL, "-k", "swallows and own")),
    Mutant("an overdue PINGRESP goes unnoticed", "firmware/node/mqtt/receive.py",
           "if clock.ticks_diff(now, c._ping_at) > c.timeout * 1000:", "if False:",
           ("tests/device/test_mqtt_client.py",)),
    # the session (node.app)
    Mutant("no last will", "firmware/node/connect.py",
           """c.set_last_will(node.t_status, '{"state": "offline"}', retain=True, qos=1)""", "pass",
           (CYCLES, "-k", "will_fires")),
    Mutant("commands acknowledged before they run", "firmware/node/connect.py",
           "c.defer_acks = True                # a command is acknowledged once it has run",
           "c.defer_acks = False",
           ("tests/integration/test_faults_cuts.py", "-k", "arrived")),
    Mutant("a refused subscription asked again every wake", "firmware/node/session.py",
           "st.sub_retry_at = now + min(86400, 3600 << min(st.sub_refusals - 1 - hung_up, 5))",
           "st.sub_retry_at = 0",
           ("tests/device/test_node_subscription.py",)),
    # the broker's ACL (host_tools.broker.acl)
    Mutant("ACL widened: a device reads every node's topics", "host_tools/broker/acl.py",
           '("read", "nodes/{id}/cmd/#"),        # commands, kept by its persistent session (QoS 1)',
           '("read", "nodes/#"),',
           ("tests/integration/test_host_isolation.py",)),
)


def apply(mutant, root):
    """Write the mutant into the copy of the checkout at root; ValueError when its line is
    not in the file exactly once."""
    path = root / mutant.path
    text = path.read_text()
    found = [m for m in re.finditer(r"^([ \t]*)" + re.escape(mutant.line) + r"[ \t]*$", text, re.M)]
    if len(found) != 1:
        raise ValueError(f"{mutant.path}: the line {mutant.line!r} is there {len(found)} times, "
                         f"not once: update the mutant")
    m = found[0]
    path.write_text(text[:m.start()] + m.group(1) + mutant.mutated + text[m.end():])


def run(mutant):
    """(verdict, detail, seconds): "killed" (by the first failing test), "SURVIVED" or "ERROR"."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        root = Path(tmp)
        for name in COPIED:
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        try:
            apply(mutant, root)
        except ValueError as exc:
            return "ERROR", str(exc), 0.0
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
                   FAULT_REPORT="")     # the suite's fault table is not the mutants'
        # -P: the current folder (the checkout) does not go before PYTHONPATH on sys.path.
        where = subprocess.run([sys.executable, "-P", "-c", "import host_tools.repo as r; print(r.FIRMWARE)"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        if not where.stdout.startswith(str(root)):
            return "ERROR", f"the tests would not run the mutated copy: {where.stdout}{where.stderr}", 0.0
        cmd = [sys.executable, "-P", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests]
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return "killed", f"its tests ran over {TIMEOUT_S} s", time.monotonic() - started
    seconds = time.monotonic() - started
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return "SURVIVED", "its tests passed", seconds
    failed = re.search(r"^FAILED (\S+)", out, re.M)
    if proc.returncode == 1 and failed:
        return "killed", failed.group(1), seconds
    return "ERROR", f"pytest exited {proc.returncode}:\n{out[-2000:]}", seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", default="", help="only the mutants whose name contains this")
    ap.add_argument("-j", type=int, default=1, help="mutants run at once (default 1)")
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if args.k.lower() in m.name.lower()]
    if args.list:
        for m in chosen:
            print(f"{m.name}  [{m.path}]  {' '.join(m.tests)}")
        return 0
    started = time.monotonic()
    width = max(len(m.name) for m in chosen)
    bad = 0
    with ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        for m, (verdict, detail, seconds) in zip(chosen, pool.map(run, chosen)):
            bad += verdict != "killed"
            print(f"{verdict:8}  {m.name.ljust(width)}  {seconds:5.1f} s  {detail}", flush=True)
    print(f"{len(chosen)} mutants, {len(chosen) - bad} killed, {bad} survived or in error, "
          f"{time.monotonic() - started:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
