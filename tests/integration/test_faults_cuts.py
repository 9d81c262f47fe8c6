"""Fault: the connection cut, at every TLS record boundary of a session that flushes a
backlog from flash and in the middle of every record, and at every byte of the TLS handshake.

Record boundaries: a clean session is measured first (its TLS records, both directions): the
handshake, CONNECT with the first window of the backlog, CONNACK, PUBACKs, the status,
SUBSCRIBE/SUBACK, the rest of the backlog and the wake's own readings, PINGREQ/PINGRESP,
DISCONNECT. Then, from the same state each time (the board's files kept, the broker holding
no session for the node, so every session is a first one and carries SUBSCRIBE), a proxy
between node and broker closes both sides at the start of each record (the peer has all of
the one before and none of this one) and in its middle (a torn record). A point is held as
"k bytes into the n-th record one side sends", so it lands in the same place although a
reading's digits change a record's size. The cut wake may let go of no reading whose PUBACK
did not reach it (faultkit.faulted_wake); the next wake (no cut) must deliver everything, and
no reading may reach the broker twice without DUP.

Handshake bytes: the node's connect, in one MicroPython process (connect_attempts.py), cut
after each byte of the handshake in turn: each attempt ends in an OSError that says it was a
network fault (not a refusal) within mqtt.timeout, and CONNECT, with its password, never goes
out."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from faultkit import Round, faulted_wake, forget_session, label_records, wake_bound
from host_tools import unixport

TIMEOUT = 2
# A reading every wake, four at a time, rtc_batch 0: two wakes while the broker is away leave
# eight readings in flash. A window of one: each PUBLISH waits for the PUBACK before it, so
# every session of a wake has the same records in the same order (with a wider window, how
# the PUBACKs arrive decides how many messages each write carries). The CONNECT flight carries
# the first reading of the backlog.
NODE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": 4, "rtc_batch": 0}
MQTT = {"timeout": TIMEOUT, "window": 1}
PHASES = {"TLS handshake", "CONNECT + first window", "CONNACK", "PUBACK", "status online",
          "SUBSCRIBE", "SUBACK", "PUBLISH (readings)", "PINGREQ", "PINGRESP", "status sleeping",
          "DISCONNECT"}
ATTEMPTS = Path(__file__).with_name("connect_attempts.py")


def cut_points(reference):
    """Where to cut, as (label, (sender, n, k)): k bytes into the n-th record `sender` sends,
    at the start and in the middle of every record of the reference session up to the node's
    DISCONNECT (the broker's close_notify after it reaches the proxy or not)."""
    labelled = label_records(reference)
    end = next(r.end for r, label in labelled if label == "DISCONNECT")
    points = []
    for r, label in labelled:
        if r.start >= end:
            break
        n = [q for q in reference.records if q.sender == r.sender].index(r)
        points += [(label, (r.sender, n, 0)), (label, (r.sender, n, (5 + r.length) // 2))]
    return points


def subscribed_in(log_part):
    return "Received SUBSCRIBE from node-1" in log_part


@pytest.fixture
def cut_sim(broker_factory, node_sim):
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, node_opts=NODE, mqtt_opts=MQTT)
    sim.wake()                  # the node's first wake ever: its first stats go out too
    return sim


def test_connection_cut_at_every_tls_record_boundary_of_a_flush_from_flash(cut_sim, tmp_path, fault_report):
    sim, b = cut_sim, cut_sim.broker
    b.stop()
    for _ in range(2):
        assert "delivery failed" in sim.wake().output
    b.start()
    held = sim.flash()
    assert (held["flash"], held["rtc"]) == ([5, 6, 7, 8, 9, 10, 11, 12], []), held
    kept = sim.keep_board(tmp_path / "before")

    forget_session(b)
    ref = sim.wake()
    assert "delivery failed" not in ref.output, ref.output
    reference = sim.proxy.sessions[-1]
    labelled = label_records(reference)
    assert PHASES <= {label for _, label in labelled}, labelled
    points = cut_points(reference)

    faulted, hits, unsubscribed = [], {}, []
    dups = resent = 0
    for label, point in points:
        sim.restore_board(kept)
        forget_session(b)
        r = Round(sim, held["flash"])
        sim.proxy.cut_in_record, sim.proxy.cut_connections = point, 1
        before = len(sim.proxy.sessions)
        w = faulted_wake(sim, held=held["flash"])
        # The wake's first connection is the cut one (a cut handshake is looked at again on a
        # second connection, to tell a refusal from a network fault).
        cut = sim.proxy.sessions[before]
        assert cut.cut is not None, f"no cut at {point} ({label}): the session ended at {cut.total}"
        faulted.append(w)
        hits[label] = hits.get(label, 0) + 1
        # The next wake, without a cut, delivers what the cut one kept, and its own.
        after = sim.wake()
        assert "(buffered 0 in flash, 0 in RTC memory)" in after.output, (point, label, after.output)
        r.close()
        assert not r.lost, f"cut at {point} ({label}): lost {sorted(r.lost)}"
        assert not r.sent_twice, f"cut at {point} ({label}): {r.sent_twice} sent twice without DUP"
        if not subscribed_in(b.log_text()[r.log_mark:]):
            unsubscribed.append(f"{point} ({label})")
        dups += r.duplicates
        resent += r.resent
    sim.proxy.cut_in_record = None

    assert PHASES <= set(hits), sorted(hits)
    blocked = max(w.seconds for w in faulted)
    # A cut never leaves the node waiting: both sides close at once.
    bound = wake_bound(TIMEOUT, waits=0)
    assert blocked <= bound, f"a wake was awake {blocked:.2f} s > {bound} s"
    fault_report("connection cut", f"{len(points)} points, flush from flash",
                 taken=len(held["flash"]) + NODE["readings_per_wake"],
                 held=sum(len(w.before | w.own) for w in faulted), lost=0, lost_in_broker=0,
                 duplicates=dups, resent=resent, max_blocked_s=round(blocked, 2), bound_s=bound,
                 faulted_wakes=len(faulted),
                 note=f"backlog {len(held['flash'])} in flash; session of {reference.total} bytes in "
                 f"{len(reference.records)} TLS records, cut at the start and in the middle of each; "
                 f"cuts per phase: " + ", ".join(f"{k} {v}" for k, v in sorted(hits.items())) +
                 (f"; left without the command subscription after {len(unsubscribed)} cuts: "
                  + ", ".join(unsubscribed) if unsubscribed else ""))
    # What a cut may cost in duplicates: at most the readings in flight, each time.
    assert dups <= len(points) * (len(held["flash"]) + NODE["readings_per_wake"])


class ConnectAttempts:
    """connect_attempts.py under MicroPython, on a copy of the node's board: attempt() makes
    one connect and returns how it ended."""

    def __init__(self, sim, board):
        env = dict(os.environ, MICROPYPATH=unixport.micropypath(), NODE_DIR=str(sim.node.bundle_dir),
                   NODE_SIM=str(board))
        self.proc = subprocess.Popen([unixport.interpreter(), str(ATTEMPTS)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=1)

    def attempt(self):
        self.proc.stdin.write("go\n")
        line = self.proc.stdout.readline()
        try:
            return json.loads(line)
        except ValueError:
            self.close()
            raise AssertionError(f"connect_attempts.py: {line}{self.proc.stdout.read()}") from None

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_connection_cut_at_every_byte_of_the_tls_handshake(cut_sim, tmp_path):
    sim, b = cut_sim, cut_sim.broker
    handshake = next(r.start for r in sim.proxy.sessions[0].records if r.type == 23)
    connects = b.log_text().count("Received CONNECT from node-1")
    attempts = ConnectAttempts(sim, sim.keep_board(tmp_path / "board"))
    verdicts = {}
    try:
        for at in range(handshake):
            sim.proxy.cut_after, sim.proxy.cut_connections = at, 1
            before = len(sim.proxy.sessions)
            got = attempts.attempt()
            assert sim.proxy.sessions[before].cut == at, (at, sim.proxy.sessions[before])
            assert not got["ok"] and got["error"] == "OSError" and "a network fault" in got["message"], (at, got)
            assert got["ms"] <= TIMEOUT * 1000, (at, got)
            verdicts[got["message"]] = verdicts.get(got["message"], 0) + 1
    finally:
        sim.proxy.cut_after = None
        attempts.close()
    assert b.log_text().count("Received CONNECT from node-1") == connects, "CONNECT went out"
    assert sum(verdicts.values()) == handshake >= 1000, verdicts


@pytest.mark.parametrize("phase", ["CONNACK", "SUBSCRIBE"])
def test_commands_still_arrive_after_a_first_session_cut_before_its_subscribe(phase, broker_factory,
                                                                             node_sim):
    # A window that takes all of a wake's readings in the first flight: the node's records
    # then come in the same order and number in every wake, whatever the PUBACKs' timing,
    # so the cut lands in the record the reference session names.
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, node_opts=NODE, mqtt_opts=dict(MQTT, window=8))
    sim.wake()
    forget_session(b)
    sim.wake()
    # In the middle of the record: a reading's payload varies by a byte or two from wake to
    # wake, so the record's edges move a little.
    reference = sim.proxy.sessions[-1]
    r = next(r for r, label in label_records(reference) if label == phase)
    n = [q for q in reference.records if q.sender == r.sender].index(r)
    forget_session(b)
    sim.proxy.cut_in_record, sim.proxy.cut_connections = (r.sender, n, r.length // 2), 1
    w = sim.wake()
    assert sim.proxy.sessions[-1].cut is not None, w.output
    # Cut before CONNACK the wake failed; cut in SUBSCRIBE its readings had gone already.
    assert ("delivery failed" in w.output) == (phase == "CONNACK"), w.output
    sim.drain()
    sim.command("ping")
    w = sim.wake()
    assert "command ping" in w.output, (
        f"cut in {phase}: the node no longer receives commands\n{w.output}")


def test_a_command_that_arrived_in_a_wake_that_then_broke_is_still_run(cut_sim):
    sim = cut_sim
    sim.command("ping")                 # queued while the node sleeps
    # The broker sends CONNACK, the queued command, then PUBACKs: cut before the third PUBACK.
    server = [r for r in sim.proxy.sessions[0].records if r.sender == "server"]
    n = server.index([r for r in server if r.type == 23][4])
    sim.proxy.cut_in_record, sim.proxy.cut_connections = ("server", n, 0), 1
    w = sim.wake()
    assert "delivery failed" in w.output, w.output
    assert "Sending PUBLISH to node-1 (d0, q1, r0, m1, 'nodes/node-1/cmd/ping'" in sim.broker.log_text()
    sim.drain()
    ran = [w for w in sim.node.wakes if "command ping" in w.output]
    assert ran, "the command was acknowledged to the broker and never run"
