"""The fault suite's tools: what a fault cost the node (readings lost, duplicates, time
blocked) and the bound its wakes are held to, a client that logs in as the node from
elsewhere, and the MQTT packets inside the TLS records of a session the proxy saw."""

import os
import re
import socket
import threading

import mqttwire as wire
from nodesim import DEVICE

# A wake's own work: process start, imports, config, flash, TLS handshake, a flush on loopback.
# About 0.15 s here (a clean wake of test_node_cycles); the margin is for a loaded 2-core CI box.
WAKE_WORK_S = 2.0
# A wake waits on the broker in bounded steps, each at most mqtt.timeout: TCP connect, each TLS
# read, CONNACK, SUBACK, a window of PUBACKs, the command drain. When the broker stops
# answering, the step under way times out and ends the delivery (node.app: failed()): one step
# times out at most.
STALL_WAITS = 1
_RESENT = re.compile(r"Received PUBLISH from %s \(d1, q1, r0, m\d+, '[^']*/readings'" % DEVICE)
_PUBACK = re.compile(r"Sending PUBACK to %s \(m(\d+)," % DEVICE)


def wake_bound(timeout_s, waits=STALL_WAITS):
    """The longest a wake may stay awake when `waits` of its steps wait out mqtt.timeout."""
    return waits * timeout_s + WAKE_WORK_S


def barrier(sim, timeout=15):
    """Wait until the monitor has everything the broker queued for it so far: a message of
    its own, published now, comes after all of it (a session's messages keep their order)."""
    topic = "nodes/fault-suite/cmd/barrier"       # a topic the monitor may write and reads
    token = os.urandom(8).hex().encode()
    assert sim.monitor.wait_ready(timeout), "monitor not connected"
    sim.monitor.client.publish(topic, token, qos=1)
    assert sim.monitor.wait_for(lambda ms: any(m.payload == token for m in ms), timeout), \
        "the monitor's own message did not come back"


def tally(report, sim, faulted, bound, fault, variant, note=None, broker_may_lose=False):
    """Add the fault's row to the report; assert the node lost nothing and no faulted wake
    stayed awake past the bound.

    lost: readings the node took that no subscriber received and the broker never
    acknowledged (the node let go of them: a bug); lost in broker: readings the broker
    acknowledged (PUBACK) and then lost (a SIGKILL before Mosquitto saved them; nothing a
    client can do about it); duplicates: deliveries of a reading beyond its first (the node's
    resends, and the broker's own to a subscriber after a restart); resent: PUBLISHes the
    broker received with DUP set. The attribution reads the broker's log (log_type debug).
    """
    barrier(sim)
    taken = set(sim.taken())
    got = sim.seqs()
    missing = taken - set(got)
    log = sim.broker.log_text()
    debug = "Received PUBLISH" in log
    acked = {int(m) for m in _PUBACK.findall(log)}
    lost = sorted(n for n in missing if not debug or n % 65535 + 1 not in acked)
    lost_in_broker = sorted(missing - set(lost))
    blocked = max(w.seconds for w in faulted) if faulted else 0.0
    row = report(fault, variant, taken=len(taken), lost=len(lost), lost_in_broker=len(lost_in_broker),
                 duplicates=len(got) - len(set(got)), resent=len(_RESENT.findall(log)) if debug else None,
                 max_blocked_s=round(blocked, 2), bound_s=bound, wakes=len(sim.node.wakes),
                 faulted_wakes=len(faulted), note=note)
    assert not lost, f"{fault} ({variant}): the node lost readings {lost}; {row}"
    if not broker_may_lose:
        assert not lost_in_broker, f"{fault} ({variant}): acknowledged, never delivered: {lost_in_broker}; {row}"
    assert blocked <= bound, f"{fault} ({variant}): a wake was awake {blocked:.2f} s > {bound} s"
    return row


def pile_up(sim, wakes=2):
    """A backlog in flash: `wakes` wakes while the broker is down, each of whose readings
    goes to flash (more than node.rtc_batch); returns how many readings it holds."""
    sim.broker.stop()
    for _ in range(wakes):
        w = sim.wake()
        assert "delivery failed" in w.output, w.output
    sim.broker.start()
    backlog = sim.flash()["buffered"]
    assert backlog == wakes * sim.node_opts["readings_per_wake"], backlog
    return backlog


PINGREQ, PINGRESP = 12, 13


class Intruder:
    """A client that logs in with the node's client id and password from elsewhere (over the
    broker's plain listener): the broker hands it the node's session and drops the node."""

    def __init__(self, broker, clean, timeout=5.0):
        self.sock = socket.create_connection((broker.host, broker.plain_port), timeout=timeout)
        self.sock.sendall(wire.connect(DEVICE, DEVICE, broker.users[DEVICE], keepalive=60, clean=clean))
        ptype, _, body = wire.read_packet(self.sock)
        assert ptype == wire.CONNACK and body[1] == 0, (ptype, body)
        self.session_present = bool(body[0] & 1)
        self.received = []          # (topic, payload) of what the broker delivered to it

    def take(self, timeout=5.0):
        """Read what the broker hands over on login, acknowledging QoS 1 as a client would:
        the queued messages all come before the answer to a PINGREQ sent now."""
        self.sock.settimeout(timeout)
        self.sock.sendall(wire.packet(PINGREQ, 0, b""))
        while True:
            ptype, flags, body = wire.read_packet(self.sock)
            if ptype == PINGRESP:
                return self.received
            if ptype == wire.PUBLISH:
                self.received.append(wire.parse_publish(flags, body))
                if flags & 0x06:
                    n = int.from_bytes(body[:2], "big")
                    self.sock.sendall(wire.packet(wire.PUBACK, 0, body[2 + n:4 + n]))

    def leave(self):
        try:
            self.sock.sendall(wire.disconnect())
        except OSError:
            pass
        self.sock.close()


def forget_session(broker):
    """Drop the node's persistent session on the broker (a clean login under its id), so the
    node's next session is a first one: it subscribes again."""
    Intruder(broker, clean=True).leave()


class BrokerBreaker:
    """A proxy hook that breaks the broker at the `at`-th application record the broker sends
    in a session (1 is CONNACK), `times` times, before the node gets that record."""

    def __init__(self, action, at, times=1):
        self.action = action        # f(): e.g. stop the broker; runs in the proxy's thread
        self.at = at
        self.left = times
        self.fired = threading.Event()
        self.errors = []

    def __call__(self, session, index):
        if index != self.at or self.left <= 0:
            return
        self.left -= 1
        try:
            self.action()
        except Exception as exc:     # seen by the test, not lost in the proxy's thread
            self.errors.append(exc)
        self.fired.set()


# --- the MQTT packets inside a node session's TLS records ---

# Plaintext sizes of the fixed-size packets: PINGREQ/PINGRESP/DISCONNECT 2, CONNACK/PUBACK 4,
# SUBACK 5, and the node's SUBSCRIBE to its commands.
SUBSCRIBE_SIZE = len(wire.subscribe(1, f"nodes/{DEVICE}/cmd/#", 1))


def label_records(session):
    """[(Record, label)] for a session of the node through the proxy: the TLS handshake, then
    what each encrypted record carries, told apart by its plaintext size and its place (the
    node's order: CONNECT with the first window, status online, SUBSCRIBE, the rest of the
    readings, PINGREQ, stats, status sleeping, DISCONNECT)."""
    records = session.records
    server_data = [r for r in records if r.sender == "server" and r.type == 23]
    client_data = [r for r in records if r.sender == "client" and r.type == 23]
    # CONNACK is 4 bytes: what the cipher adds to every record (explicit nonce and tag).
    overhead = server_data[0].length - 4 if server_data else 0
    out = []
    for r in records:
        if r.type in (20, 22):
            label = "TLS handshake"
        elif r.type == 21:
            label = "TLS alert"
        elif r.sender == "server":
            size = r.length - overhead
            label = ("CONNACK" if r is server_data[0] else
                     {4: "PUBACK", 5: "SUBACK", 2: "PINGRESP"}.get(size, "PUBLISH (command)"))
        else:
            size = r.length - overhead
            i = client_data.index(r)
            if i == 0:
                label = "CONNECT + first window"
            elif size == 2:
                label = "DISCONNECT" if r is client_data[-1] else "PINGREQ"
            elif i == 1:
                label = "status online"
            elif size == SUBSCRIBE_SIZE:
                label = "SUBSCRIBE"
            elif len(client_data) > 1 and r is client_data[-2] and client_data[-1].length - overhead == 2:
                label = "status sleeping"
            else:
                label = "PUBLISH (readings)"
        out.append((r, label))
    return out

