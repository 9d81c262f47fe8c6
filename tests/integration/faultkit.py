"""The fault suite's tools: what a fault cost the node (readings lost, duplicates, time
blocked) and the bound its wakes are held to, a client that logs in as the node from
elsewhere, and the MQTT packets inside the TLS records of a session the proxy saw.

Losses are counted from what the node took and what it holds, not from what the broker saw: a
reading leaves the node only with its PUBACK, so a faulted wake (faulted_wake) may let go of
no more readings than PUBACKs could reach it, however many PUBLISHes the broker got."""

import os
import re
import socket
import threading
from dataclasses import dataclass

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
_SENT = re.compile(r"Received PUBLISH from %s \(d(\d), q1, r0, m(\d+), '[^']*/readings'" % DEVICE)
_PUBACK = re.compile(r"Sending PUBACK to %s \(m(\d+)," % DEVICE)


@dataclass
class Faulted:
    """A wake under a fault, and the readings the node held around it."""
    wake: object        # host_tools.simnode.Wake
    before: set         # held before the wake (flash and RTC memory)
    own: set            # taken by the wake
    after: set          # held after it
    acks: int           # PUBACKs that could have reached the node in the wake, at most

    @property
    def output(self):
        return self.wake.output

    @property
    def seconds(self):
        return self.wake.seconds

    @property
    def let_go(self):
        """Readings the node no longer holds: each needs a PUBACK that reached it."""
        return (self.before | self.own) - self.after


def pubacks_reached(sim, log_mark, first_session):
    """How many PUBACKs could have reached the node since the broker's log was log_mark
    long and the proxy had seen first_session sessions: what the broker logged sending (it
    logs a packet before it writes it), and through the proxy, what it forwarded whole (a
    server record of the session's application data after CONNACK, a PUBACK per 4 bytes of
    plaintext)."""
    reached = len(_PUBACK.findall(sim.broker.log_text()[log_mark:]))
    if sim.proxy is not None:
        forwarded = 0
        for session in sim.proxy.sessions[first_session:]:
            data = [r for r in session.records if r.sender == "server" and r.type == 23]
            overhead = data[0].length - 4 if data else 0     # CONNACK is 4 bytes
            forwarded += sum((r.length - overhead) // 4 for r in data[1:]
                             if r.end - r.start == 5 + r.length)
        reached = min(reached, forwarded)
    return reached


def faulted_wake(sim, held=None, **kw):
    """A wake under a fault (sim.wake's arguments), checked: the node let go of no more
    readings than PUBACKs could reach it, and holds none it did not hold or take. held: what
    the node holds before it, when the test knows (else read from its flash and RTC memory)."""
    before = sim.custody() if held is None else set(held)
    log_mark = len(sim.broker.log_text())
    first_session = len(sim.proxy.sessions) if sim.proxy is not None else 0
    w = sim.wake(**kw)
    f = Faulted(w, before, set(sim.taken([w])), sim.custody(), pubacks_reached(sim, log_mark, first_session))
    assert f.after <= f.before | f.own, f"readings held from nowhere: {sorted(f.after - f.before - f.own)}"
    assert len(f.let_go) <= f.acks, (
        f"the node let go of {len(f.let_go)} readings {sorted(f.let_go)} with at most {f.acks} "
        f"PUBACKs reaching it: it dropped readings the broker had not acknowledged to it\n{w.output}")
    return f


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
    (faulted_wake's) stayed awake past the bound.

    taken: readings the node took; held: readings it held when a fault hit (summed over the
    faulted wakes: what the faults could have cost); lost: readings it took that no
    subscriber received and the broker never acknowledged; lost in broker: readings the broker
    acknowledged (PUBACK) and then lost (a SIGKILL before Mosquitto saved them; nothing a
    client can do about it); duplicates: deliveries of a reading beyond its first (the node's
    resends, and the broker's own to a subscriber after a restart); resent: PUBLISHes the
    broker received with DUP set. The attribution reads the broker's log (log_type debug).
    What a faulted wake let go of without a PUBACK was checked as it ended (faulted_wake).
    """
    barrier(sim)
    taken = set(sim.taken())
    got = sim.seqs()
    missing = taken - set(got)
    log = sim.broker.log_text()
    debug = "Received PUBLISH" in log
    acked = {int(m) for m in _PUBACK.findall(log)}
    # The fault suite's readings are numbered below 65535: a reading's packet id is n + 1.
    assert max(taken, default=0) < 65535
    lost = sorted(n for n in missing if not debug or n + 1 not in acked)
    lost_in_broker = sorted(missing - set(lost))
    blocked = max(w.seconds for w in faulted) if faulted else 0.0
    row = report(fault, variant, taken=len(taken), held=sum(len(f.before | f.own) for f in faulted),
                 lost=len(lost), lost_in_broker=len(lost_in_broker),
                 duplicates=len(got) - len(set(got)), resent=sum(d == "1" for d, _ in _SENT.findall(log)) if debug else None,
                 max_blocked_s=round(blocked, 2), bound_s=bound, wakes=len(sim.node.wakes),
                 faulted_wakes=len(faulted), note=note)
    assert not lost, f"{fault} ({variant}): the node lost readings {lost}; {row}"
    if not broker_may_lose:
        assert not lost_in_broker, f"{fault} ({variant}): acknowledged, never delivered: {lost_in_broker}; {row}"
    assert blocked <= bound, f"{fault} ({variant}): a wake was awake {blocked:.2f} s > {bound} s"
    return row


class Round:
    """Wakes run from a state of the node kept before (NodeSim.keep_board/restore_board),
    counted on their own: the same reading numbers come again in every round.

        r = Round(sim, held)        # held: the readings the kept state holds
        ... wakes ...
        r.close()                   # then r.lost, r.duplicates, r.resent, r.sent_twice
    """

    def __init__(self, sim, held):
        self.sim = sim
        self.held = set(held)
        self.log_mark = len(sim.broker.log_text())
        self.msg_mark = len(sim.monitor.messages)
        self.wake_mark = len(sim.node.wakes)

    @property
    def wakes(self):
        return self.sim.node.wakes[self.wake_mark:]

    def close(self):
        """Wait for what the broker delivered; count the round: lost (readings held or taken
        that no subscriber received), duplicates (deliveries beyond the first), resent
        (PUBLISHes with DUP), sent_twice (packet ids the broker received twice without DUP)."""
        sim = self.sim
        barrier(sim)
        got = sim.seqs(since=self.msg_mark)
        self.taken = self.held | set(sim.taken(self.wakes))
        self.lost = self.taken - set(got)
        self.duplicates = len(got) - len(set(got))
        sends = _SENT.findall(sim.broker.log_text()[self.log_mark:])
        self.resent = sum(1 for dup, _ in sends if dup == "1")
        firsts = [int(pid) for dup, pid in sends if dup == "0"]
        self.sent_twice = sorted({pid for pid in firsts if firsts.count(pid) > 1})
        return self


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

