"""Power loss at every write point of a wake, in each durability mode, online and with a
backlog: the whole firmware on the unix board against a real Mosquitto over TLS.

Each program and erase of the simulated flash chip and each send on the network is a write
point (firmware/sim/powercut.py). A counted wake learns how many the wake makes; then, from the
same state each time (the board's files as the setup left them), the power goes just before
write point 0, 1, 2, ... in turn, as the ring buffer's power-loss tests do with the chip alone.
After each cut, RTC memory is gone; the node wakes (cold boot) until it holds nothing, and:

- the readings lost are only those RTC memory (or RAM) alone held at the cut, and no more than
  the README's row for the mode allows ("What each setting can lose"), counted from the
  readings the node held and took: default, at most rtc_batch waiting in RTC memory and the
  wake's own; rtc_batch 0, the wake's own only; durable, only the wake's own whose store the
  cut interrupted (each is in flash before the wake sends anything);
- no reading reaches the broker twice without DUP (after a power loss the readings flash
  carried go again with DUP: RTC memory no longer says which went out before);
- nothing comes back once the broker acknowledged it: the node holds nothing at the end.
"""

import itertools

import pytest

from faultkit import Round, barrier

PER_WAKE = 2
WINDOW = 4
RTC_BATCH = 8
# A reading every wake, PER_WAKE at a time; a window of four, so a backlog goes in several.
NODE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": PER_WAKE}
MODES = {
    # name: (node options, readings a power loss may cost beyond what flash holds)
    "default": ({"rtc_batch": RTC_BATCH}, RTC_BATCH + PER_WAKE),
    "rtc_batch 0": ({"rtc_batch": 0}, PER_WAKE),
    "durable": ({"durable": True}, PER_WAKE),
}
# The broker away for this many wakes before the counted one: what the node then holds.
# The first wake delivered readings 1 and 2; the outage wakes take 3 to 16. default: after five
# of them ten wait, over rtc_batch: to flash in one batch; the last two wakes' four wait in RTC
# memory. rtc_batch 0 and durable: every reading in flash.
OUTAGE_WAKES = 7
BACKLOG = {"default": ({3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {13, 14, 15, 16}),
           "rtc_batch 0": ({3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, set()),
           "durable": ({3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, set())}


def setup_state(sim, backlog):
    """The node's state before the wake under test: online (its previous wake delivered
    everything) or with a backlog (the broker was away for OUTAGE_WAKES wakes)."""
    sim.wake()                          # the session, its subscription, the first stats
    if backlog:
        sim.broker.stop()
        for _ in range(OUTAGE_WAKES):
            w = sim.wake()
            assert "delivery failed" in w.output, w.output
        sim.broker.start()
    assert sim.monitor.wait_ready(15), "monitor not connected"
    barrier(sim)
    return sim.flash()


@pytest.mark.parametrize("backlog", [False, True], ids=["online", "backlog"])
@pytest.mark.parametrize("mode", list(MODES))
def test_power_loss_at_every_write_point_of_a_wake(mode, backlog, node_sim, broker_factory,
                                                   tmp_path, fault_report):
    opts, bound = MODES[mode]
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, node_opts=dict(NODE, **opts), mqtt_opts={"window": WINDOW})
    held = setup_state(sim, backlog)
    in_flash, in_rtc = set(held["flash"]), set(held["rtc"])
    if backlog:
        assert (in_flash, in_rtc) == BACKLOG[mode], held
    else:
        assert (in_flash, in_rtc) == (set(), set()), held
    kept = sim.keep_board(tmp_path / "before")

    counted = sim.node.wake(cut_at=-1)
    assert counted.outcome == "slept" and "delivery failed" not in counted.output, counted.output
    points = counted.points
    assert "n" in points, points
    # durable stores the wake's readings before anything goes out; default and rtc_batch 0
    # write flash only when a backlog is there to acknowledge.
    assert ("f" in points) == (mode == "durable" or backlog), points
    if mode == "durable":
        assert points.index("f") < points.index("n"), points

    scenario = f"{mode}, {'backlog' if backlog else 'online'}"
    lost_most = resent = duplicates = cuts = 0
    for k in itertools.count():
        sim.restore_board(kept)
        r = Round(sim, in_flash | in_rtc)
        w = sim.node.wake(cut_at=k)
        if w.outcome == "slept":
            # Past the wake's last write point: it ran to the end. (How the PUBACKs of a window
            # arrive decides how many writes its refills take: a wake may make one more or
            # one fewer than the counted one.)
            assert "delivery failed" not in w.output, w.output
            if k >= len(points):
                break
            continue
        assert w.outcome == "killed" and w.cut_at == k, w.output
        cuts += 1
        sim.drain()
        r.close()
        own, stored = set(sim.taken([w])), set(sim.stored([w]))
        volatile = (in_rtc | own) - stored      # what RTC memory (or RAM) alone held
        where = f"{scenario}: cut before write point {k} of {points}"
        if mode == "durable" and "(network)" in w.output:
            # Stored right after it is taken: before the wake sends anything.
            assert own <= stored, f"{where}: {sorted(own - stored)} not in flash yet\n{w.output}"
        assert r.lost <= volatile, f"{where}: lost {sorted(r.lost - volatile)}, which flash held\n{w.output}"
        assert len(r.lost) <= bound, f"{where}: lost {len(r.lost)} > {bound}: {sorted(r.lost)}"
        assert not r.sent_twice, f"{where}: packet ids {r.sent_twice} went to the broker twice without DUP"
        assert sim.custody() == set(), f"{where}: the node still holds readings"
        lost_most = max(lost_most, len(r.lost))
        resent += r.resent
        duplicates += r.duplicates
    fault_report("power loss at every write point", scenario, taken=len(in_flash | in_rtc) + PER_WAKE,
                 held=len(in_flash | in_rtc), lost=lost_most, duplicates=duplicates, resent=resent,
                 faulted_wakes=cuts, note=f"{len(points)} write points ({points.count('f')} flash, "
                 f"{points.count('n')} network: {points}); the most lost at one cut: {lost_most} "
                 f"(the mode's bound {bound})")
