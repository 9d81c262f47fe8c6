"""Fault: the broker restarts while the node flushes a backlog from flash, twice over (SIGTERM:
Mosquitto saves its state; SIGKILL: it comes back with what it saved up to a second before).
Nothing may be lost; duplicates are counted."""

import signal
import threading

import pytest

from faultkit import BrokerBreaker, faulted_wake, pile_up, tally, wake_bound

TIMEOUT = 2
# A reading every wake, 40 at a time, so a short outage piles up a backlog in flash.
PILE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": 40}
OUTAGE_WAKES = 5
# The broker goes down before the node gets the 30th thing it sends in a session: CONNACK
# and the PUBACKs of the first chunks of the backlog (8 a window) are through, most is not.
AT_RECORD = 30


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_broker_restarted_twice_in_the_middle_of_a_flush(sig, broker_factory, node_sim, fault_report):
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, node_opts=PILE, mqtt_opts={"timeout": TIMEOUT})
    sim.wake()
    backlog = pile_up(sim, OUTAGE_WAKES)

    restarted = []

    def restart():
        b.stop(sig=sig)
        # Back up while the node is still in its wake (it gives up on its own timeline).
        t = threading.Thread(target=b.start)
        t.start()
        restarted.append(t)

    breaker = BrokerBreaker(restart, AT_RECORD, times=2)
    sim.proxy.on_record = breaker
    faulted = []
    while breaker.left:
        w = faulted_wake(sim)
        faulted.append(w)
        for t in restarted:
            t.join(15)
        assert len(faulted) <= 2 and not breaker.errors, (breaker.errors, w.output)
        assert "delivery failed" in w.output, w.output
    sim.proxy.on_record = None
    # The second restart met a backlog already smaller: the flush went on from where it broke.
    assert all(s.total for s in sim.proxy.sessions)
    sim.drain()
    row = tally(fault_report, sim, faulted, wake_bound(TIMEOUT), "broker restart mid-flush",
                signal.Signals(sig).name, note=f"backlog {backlog} readings in flash; broker down at "
                f"the {AT_RECORD}th record it sent, twice", broker_may_lose=sig == signal.SIGKILL)
    assert row["faulted_wakes"] == 2
    assert sim.flash()["buffered"] == 0
