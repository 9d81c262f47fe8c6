"""Fault: the connection cut at every point of a session. A clean session is measured first
(its bytes, both directions, and its TLS records); then a proxy between node and broker closes
both sides at points spread over all of it: the TLS handshake, CONNECT with the first window
of readings, CONNACK, PUBACKs, the status, SUBSCRIBE/SUBACK, the rest of the readings,
PINGREQ/PINGRESP, DISCONNECT. A point is held as "k bytes into the n-th record one side
sends", so it lands in the same place although a reading's digits change a record's size.
After each cut the next wake (no cut) must deliver everything; nothing may be lost,
duplicates are counted. Every cut session is a first one (the broker holds no session for the
node), so it carries the SUBSCRIBE too."""


import pytest

from faultkit import forget_session, label_records, tally, wake_bound

TIMEOUT = 2
# A reading every wake, four at a time with a window of two: the CONNECT flight carries two,
# the other two follow as a second flight, so the session has PUBACKs on both sides of SUBACK.
NODE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": 4}
MQTT = {"timeout": TIMEOUT, "window": 2}
SPREAD = 24             # evenly spread cuts, on top of the start and middle of every record
PHASES = {"TLS handshake", "CONNECT + first window", "CONNACK", "PUBACK", "status online",
          "SUBSCRIBE", "SUBACK", "PUBLISH (readings)", "PINGREQ", "PINGRESP", "status sleeping",
          "DISCONNECT"}


def cut_points(reference):
    """Where to cut, as (label, (sender, n, k)): k bytes into the n-th record `sender` sends,
    so that a cut lands in the same place of a session although its records vary by a few
    bytes (a reading's digits). Picked on the reference session: the start of every record
    (the peer has all of the one before, none of this one), its middle (a torn record), and
    an even spread over the whole session."""
    labelled = label_records(reference)
    # Up to the node's DISCONNECT: the broker's close_notify after it reaches the proxy or not.
    end = next(r.end for r, label in labelled if label == "DISCONNECT")
    offsets = set()
    for r, _ in labelled:
        offsets.add(r.start)
        offsets.add((r.start + r.end) // 2)
    offsets.update(end * (i + 1) // (SPREAD + 1) for i in range(SPREAD))
    points = []
    for x in sorted(o for o in offsets if 0 < o < end):
        r, label = next((r, label) for r, label in labelled if r.start <= x < r.end)
        n = [q for q in reference.records if q.sender == r.sender].index(r)
        points.append((label, (r.sender, n, x - r.start)))
    return points


def subscribed_in(log_part):
    return "Received SUBSCRIBE from node-1" in log_part


@pytest.fixture
def cut_sim(broker_factory, node_sim):
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, node_opts=NODE, mqtt_opts=MQTT)
    sim.wake()                  # the node's first wake ever: its first stats go out too
    return sim


def test_connection_cut_at_every_point_of_a_session(cut_sim, fault_report):
    sim, b = cut_sim, cut_sim.broker
    forget_session(b)
    ref = sim.wake()
    assert "delivery failed" not in ref.output, ref.output
    reference = sim.proxy.sessions[-1]
    labelled = label_records(reference)
    assert PHASES <= {label for _, label in labelled}, labelled
    points = cut_points(reference)
    assert len(points) >= 50

    faulted, hits, at, unsubscribed = [], {}, set(), []
    for label, point in points:
        forget_session(b)
        mark = len(b.log_text())
        sim.proxy.cut_in_record, sim.proxy.cut_connections = point, 1
        before = len(sim.proxy.sessions)
        w = sim.wake()
        # The wake's first connection is the cut one (a cut handshake is looked at again on a
        # second connection, to tell a refusal from a network fault).
        cut = sim.proxy.sessions[before]
        assert cut.cut is not None, f"no cut at {point} ({label}): the session ended at {cut.total}"
        faulted.append(w)
        at.add(cut.cut)
        hits[label] = hits.get(label, 0) + 1
        # The next wake, without a cut, delivers what the cut one kept, and its own.
        after = sim.wake()
        assert "delivery failed" not in after.output, (point, label, after.output)
        assert "(buffered 0 in flash, 0 in RTC memory)" in after.output, (point, label, after.output)
        if not subscribed_in(b.log_text()[mark:]):
            unsubscribed.append(f"{cut.cut} ({label})")
    sim.proxy.cut_in_record = None

    assert PHASES <= set(hits), sorted(hits)
    assert len(at) >= 50, sorted(at)          # distinct byte offsets of the session
    # A cut never leaves the node waiting: both sides close at once.
    row = tally(fault_report, sim, faulted, wake_bound(TIMEOUT, waits=0), "connection cut", f"{len(at)} offsets",
                note=f"session of {reference.total} bytes in {len(reference.records)} TLS records; cuts per "
                f"phase: " + ", ".join(f"{k} {v}" for k, v in sorted(hits.items())) +
                (f"; left without the command subscription after {len(unsubscribed)} cuts: "
                 + ", ".join(unsubscribed) if unsubscribed else ""))
    assert row["faulted_wakes"] == len(points)
    # What a cut may cost in duplicates: at most the readings of the cut wake each time.
    assert row["duplicates"] <= len(points) * NODE["readings_per_wake"]


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
