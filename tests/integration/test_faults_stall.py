"""Fault: a broker that stops answering. The node must give up within its timeout (the bound
faultkit.wake_bound derives from mqtt.timeout), keep what was not acknowledged to it (read
from its flash and RTC memory after the wake: the broker may well have the readings, the node
lets go of none without its PUBACK), and deliver it at a later wake; duplicates are counted.

Variants: the broker frozen (SIGSTOP) in the middle of a flush from flash, or before the node
connects (TCP is accepted by the kernel, TLS never answers); a proxy that lets CONNACK through
and swallows every later record of the broker (it gets everything, the node hears no PUBACK),
with a backlog in flash and with only the wake's own readings (the longest case: the wake
goes on to wait for commands after its acks timed out)."""

import os
import signal

import pytest

from faultkit import BrokerBreaker, faulted_wake, pile_up, tally, wake_bound

TIMEOUT = 2
FAULT = "broker stops answering"
EVERY_WAKE = {"interval_s": 1, "stay_connected_below_s": 0}


def freeze(b):
    os.kill(b.process.proc.pid, signal.SIGSTOP)


def thaw(b):
    os.kill(b.process.proc.pid, signal.SIGCONT)


def run_stalled(sim, start, stop, wakes=1, report=None, variant=None):
    """Wakes under the fault (started before each, ended after each). A wake still awake a
    second past the bound is a hang: it is reported as such and fails the test."""
    faulted = []
    for _ in range(wakes):
        start()
        try:
            w = faulted_wake(sim, timeout=wake_bound(TIMEOUT) + 1)
        except RuntimeError as exc:
            report(FAULT, variant, max_blocked_s="hung", bound_s=wake_bound(TIMEOUT),
                   note=f"HUNG: no deep sleep within {wake_bound(TIMEOUT) + 1:g} s")
            pytest.fail(str(exc))
        finally:
            stop()
        faulted.append(w)
    return faulted


@pytest.fixture
def stalled(broker_factory, node_sim):
    def make(readings_per_wake, proxy=True):
        b = broker_factory(extra=["log_type debug"])
        sim = node_sim(broker=b, proxy=proxy, node_opts=dict(EVERY_WAKE, readings_per_wake=readings_per_wake),
                       mqtt_opts={"timeout": TIMEOUT})
        sim.wake()      # the first session: subscribed, stats sent
        return sim
    return make


def test_broker_frozen_in_the_middle_of_a_flush(stalled, fault_report):
    sim = stalled(readings_per_wake=30)
    backlog = pile_up(sim)
    b = sim.broker
    breaker = BrokerBreaker(lambda: freeze(b), at=12)
    sim.proxy.on_record = breaker
    faulted = run_stalled(sim, lambda: None, lambda: thaw(b))
    assert breaker.fired.is_set() and not breaker.errors
    w = faulted[0]
    assert "did not acknowledge" in w.output or "stopped answering" in w.output, w.output
    assert TIMEOUT <= w.seconds, w.output          # it did wait for the broker
    assert w.after, "the node holds nothing after a flush the broker froze in"
    sim.proxy.on_record = None
    sim.drain()
    tally(fault_report, sim, faulted, wake_bound(TIMEOUT), FAULT, "SIGSTOP mid-flush",
          note=f"backlog {backlog} in flash; frozen before its 12th record, thawed after the wake")


def test_broker_frozen_before_the_node_connects(stalled, fault_report):
    sim = stalled(readings_per_wake=5, proxy=False)
    b = sim.broker
    faulted = run_stalled(sim, lambda: freeze(b), lambda: thaw(b), wakes=2, report=fault_report,
                          variant="SIGSTOP before TLS")
    for w in faulted:
        assert "delivery failed" in w.output and "ETIMEDOUT" in w.output, w.output
        assert TIMEOUT <= w.seconds, w.output
        assert w.acks == 0 and w.after == w.before | w.own, (w.acks, w.after)
    sim.drain()
    tally(fault_report, sim, faulted, wake_bound(TIMEOUT), FAULT, "SIGSTOP before TLS",
          note="TCP accepted by the kernel, no TLS answer; two wakes")


@pytest.mark.parametrize("backlog_wakes", [2, 0], ids=["backlog in flash", "own readings only"])
def test_proxy_swallows_every_puback(backlog_wakes, stalled, fault_report):
    sim = stalled(readings_per_wake=20)
    backlog = pile_up(sim, backlog_wakes) if backlog_wakes else 0

    def swallow():
        sim.proxy.pass_records = 1       # CONNACK only

    def let_through():
        sim.proxy.pass_records = None

    faulted = run_stalled(sim, swallow, let_through)
    w = faulted[0]
    assert TIMEOUT <= w.seconds, w.output
    # No PUBACK reached the node: it holds every reading it held or took.
    assert w.acks == 0 and w.after == w.before | w.own and w.after, (w.acks, w.after)
    sim.drain()
    row = tally(fault_report, sim, faulted, wake_bound(TIMEOUT), FAULT,
                "no PUBACK, " + ("backlog" if backlog else "own readings"),
                note=f"proxy passes CONNACK, swallows the rest; backlog {backlog} in flash" +
                ("" if backlog else "; the wake waits out its acks, then the command drain: 2 x mqtt.timeout"))
    # The broker got every PUBLISH of the faulted wake: each one the node sent again is a
    # duplicate a subscriber sees (MQTT 3.1.1 QoS 1 is at least once).
    assert row["duplicates"] > 0 and row["resent"] > 0
