"""Fault: another client logs in as node-1 (its client id and password, which the ACL lets
write the node's topics), in the middle of the node's flush or while the node sleeps, with a
clean session (the broker drops the node's persistent session) or a persistent one (it takes
the node's session, with the command subscription, and stays until the node comes back and
the broker drops it in turn).

The node holds a backlog in flash each time. Nothing the node took may be lost, and it lets
go of none without its PUBACK (faultkit.faulted_wake); duplicates are counted. What happens to the node's
session is counted too: the command queued for it before the takeover reaches the node, the
intruder, or no one (a clean login wipes the queue: MQTT 3.1.1, 3.1.2.4). Once the node is
back, it must receive commands again."""

import re

import pytest

from faultkit import BrokerBreaker, Intruder, faulted_wake, pile_up, tally, wake_bound

TIMEOUT = 2
NODE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": 20}


def command_fate(sim, intruders):
    """What became of the one command queued for the node before the takeover."""
    if any("command ping" in w.output for w in sim.node.wakes):
        return "run by the node"
    if any(topic.endswith("/cmd/ping") for i in intruders for topic, _ in i.received):
        return "taken by the intruder"
    log = sim.broker.log_text()
    sent = re.search(r"Sending PUBLISH to node-1 \(d\d, q1, r0, m(\d+), '[^']*/cmd/ping'", log)
    if sent and f"Received PUBACK from node-1 (Mid: {sent.group(1)}," in log[sent.end():]:
        return "acknowledged by the node in a wake that broke, never run"
    return "dropped with the node's session (a clean login)"


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "persistent"])
@pytest.mark.parametrize("when", ["mid-flush", "asleep"])
def test_another_client_logs_in_as_the_node(when, clean, broker_factory, node_sim, fault_report):
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, node_opts=NODE, mqtt_opts={"timeout": TIMEOUT})
    sim.wake()                              # the node's session, with its command subscription
    backlog = pile_up(sim)                  # in flash, flushed when the node is back
    sim.command("ping")                     # queued for the sleeping node
    intruders, faulted = [], []

    def intrude():
        i = Intruder(b, clean)
        intruders.append(i)
        if clean:
            i.leave()

    if when == "mid-flush":
        breaker = BrokerBreaker(intrude, at=8)
        sim.proxy.on_record = breaker
        w = faulted_wake(sim)
        sim.proxy.on_record = None
        assert breaker.fired.is_set() and not breaker.errors, breaker.errors
        assert "delivery failed" in w.output, w.output
        faulted.append(w)
    else:
        intrude()
    for i in intruders:
        if not clean:
            i.take()                        # what the broker hands the intruder, acknowledged
    if when == "asleep":
        faulted.append(faulted_wake(sim))   # the node is back (and drops a persistent intruder)
    sim.drain()
    fate = command_fate(sim, intruders)
    kicks = (when == "mid-flush") + (not clean)        # the node, then the intruder
    assert b.log_text().count("already connected, closing old connection") == kicks

    # Back in charge, the node gets commands again (it subscribed anew if the session was wiped).
    sim.command("ping")
    w = sim.wake()
    assert "command ping" in w.output, w.output
    tally(fault_report, sim, faulted, wake_bound(TIMEOUT, waits=0), "session takeover",
          f"{when}, {'clean' if clean else 'persistent'}",
          note=f"backlog {backlog} in flash; the command queued before: {fate}")
    for i in intruders:
        i.leave()
