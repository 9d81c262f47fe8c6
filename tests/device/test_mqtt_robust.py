# node.mqtt.robust when things go wrong: reconnect with backoff, resend of unacknowledged
# messages (same id, DUP, original order), bounded waits, giving up. Fake broker over loopback.
import errno
import time

from fakebroker import FakeBroker, FakeClock
from fakebroker import client as any_client
from mptest import eq, raises
from node import backoff
from node.mqtt.robust import GaveUp, MQTTRefused

TIMEOUT = 30


def client(fb, **kw):
    return any_client(fb, robust=True, **kw)


def test_backoff_is_exponential_jittered_and_bounded():
    eq([backoff.delay_ms(a, 0) for a in range(1, 10)],
       [1000, 2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000], "without jitter")
    eq(backoff.delay_ms(3, 0.5), backoff.delay_ms(3, 0.5), "a pure function")
    for a in range(1, 60):
        for r in (0, 0.25, 0.5, 0.999):
            d = backoff.delay_ms(a, r)
            assert 1000 <= d <= 120000, (a, r, d)
    assert backoff.delay_ms(2, 0) < backoff.delay_ms(2, 0.9) <= 3000, "jitter adds up to half"
    assert 90000 <= backoff.delay_ms(20, 0.99) < backoff.delay_ms(20, 0.01), "jitter at the cap"
    spread = set(backoff.delay_ms(8) for _ in range(20))
    assert len(spread) > 10, "random jitter when none is given: %r" % spread
    eq(backoff.delay_ms(1, 0, 5000, 8000), 5000, "other bounds")


def test_reconnect_backs_off_then_gives_up():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, clock=clock, reconnect_tries=6)
    fb.refuse = 100
    t0 = clock.ticks_ms()
    err = raises(GaveUp, c.reconnect)
    eq(fb.attempts, 6, "tries")
    eq(err.args[0], errno.ECONNREFUSED, "errno of the last failure")
    assert "gave up after 6 tries" in str(err) and "refuses" in str(err), str(err)
    eq(len(clock.sleeps), 5, "a delay between tries, none after the last")
    prev = t0
    for i, (at, ms) in enumerate(clock.sleeps):
        lo = 1000 << i
        assert lo <= ms <= lo * 3 // 2, (i, ms)
        # each try starts right after the previous delay (timestamps, no real waiting)
        assert 0 <= clock.ticks_diff(at, prev) < 500, (i, at, prev)
        prev = at + ms
    assert isinstance(err, OSError), "GaveUp is an OSError"


def test_reconnect_succeeds_after_failures_with_persistent_session():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, clock=clock)
    fb.refuse = 2
    fb.session_present = 1
    eq(c.reconnect(), 1, "session present")
    eq(fb.attempts, 3, "third try")
    eq(fb.packets[-1][2][7] & 0x02, 0, "reconnect uses clean_session=False, as umqtt.robust")
    eq(len(clock.sleeps), 2, "two delays")


def test_reconnect_keeps_the_callers_clean_session():
    for clean in (True, False):
        fb = FakeBroker()
        c = client(fb, clock=FakeClock())
        c.connect(clean_session=clean)
        fb.hangup()
        c.publish(b"t", b"x", qos=1)
        connects = [body for _, head, body in fb.packets if head == 0x10]
        eq(len(connects), 2, "connect, then the reconnect of the publish")
        eq([bool(b[7] & 0x02) for b in connects], [clean, clean], "clean_session kept")


def test_a_connection_taken_over_after_each_connack_waits_on_the_backoff():
    # Another client with the same id (or a broker that closes right after CONNACK): each
    # CONNECT succeeds and the next operation fails, so only a working operation resets the
    # backoff; the CONNECTs come on it, not in a tight loop.
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, clock=clock, reconnect_tries=12)
    c.connect(clean_session=False)
    fb.takeover = True
    fb.hangup()
    raises(GaveUp, c.publish, b"t", b"x", qos=1)
    connects = len(fb.of_type(0x10))
    assert connects >= 12, connects
    eq(len(clock.sleeps), connects - 1, "a delay before every CONNECT after the first")
    for i, (_, ms) in enumerate(clock.sleeps):
        assert ms >= min(1000 << i, 90000), (i, ms)    # at the cap, jitter takes off
    first_minute = 0
    t = 0
    for _, ms in clock.sleeps:
        t += ms
        first_minute += t <= 60000
    assert first_minute <= 6, "%d CONNECTs in the first minute" % first_minute


def test_refused_login_is_not_retried_but_unavailable_is():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, clock=clock, reconnect_tries=3)
    fb.connack = 4
    raises(MQTTRefused, c.reconnect)
    eq(fb.attempts, 1, "a bad password does not get better by trying again")
    fb.connack = 3
    raises(GaveUp, c.reconnect)
    eq(fb.attempts, 4, "server unavailable is retried")


def test_delay_hook_is_used_as_in_umqtt_robust():
    fb = FakeBroker()
    c = client(fb, reconnect_tries=4)
    seen = []
    c.delay = seen.append
    fb.refuse = 10
    raises(GaveUp, c.reconnect)
    eq(seen, [1, 2, 3], "delay(i) between tries")


def test_resend_after_reconnect_keeps_ids_dup_and_order():
    fb = FakeBroker()
    c = client(fb, window=8)
    c.connect(clean_session=False)
    fb.hold.update((1, 2, 3, 4, 5))
    for i in range(5):
        c.publish("nodes/node-1/r", "m%d" % i, qos=1)
    c.publish("nodes/node-1/r", "q0")             # QoS 0: never resent
    fb.hangup()
    fb.hold.clear()
    assert c.wait_acks(3), "delivered after the reconnect"
    eq(len(fb.conns), 2, "one reconnect")
    resent = [(p.pid, p.dup, p.msg) for p in fb.publishes if p.conn == 1]
    eq(resent, [(i + 1, True, b"m%d" % i) for i in range(5)], "same ids, DUP, original order")
    eq(len(fb.conns[1].writes), 1, "CONNECT and the resends in one write")
    eq(fb.conns[1].writes[0][0], 0x10, "after CONNECT")
    assert fb.packets[-6][1] == 0x10 and (fb.packets[-6][2][7] & 0x02) == 0, "the caller's persistent session"
    c.publish("nodes/node-1/r", "new", qos=1)
    p = fb.publishes[-1]
    eq((p.pid, p.dup), (6, False), "new messages: next id, no DUP")


def test_publish_survives_a_broker_that_stops_answering():
    # umqtt.robust waits forever for a PUBACK of a message it never resends (DESIGN.md).
    fb = FakeBroker()
    c = client(fb, timeout=0.3)
    errors = []
    c.log = lambda r, e: errors.append(e)
    c.connect()
    fb.silent.add(0)                                # the first connection never acknowledges
    t = time.ticks_ms()
    eq(c.publish("nodes/node-1/s", "x", qos=1), 1, "returns once acknowledged")
    took = time.ticks_diff(time.ticks_ms(), t)
    assert 250 <= took < 3000, took
    assert "no PUBACK" in str(errors[0]), errors
    assert fb.conns[0].closed, "the silent connection was dropped"
    p0, p1 = fb.publishes
    eq((p0.pid, p0.dup, p1.pid, p1.dup, p1.conn), (1, False, 1, True, 1), "resent with DUP")


def test_publish_gives_up_when_the_broker_stays_away():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, clock=clock, window=2, reconnect_tries=3)
    c.connect()
    fb.hold.add(1)
    c.publish("nodes/node-1/g", "kept", qos=1)
    fb.hangup()
    fb.refuse = 100
    err = raises(GaveUp, c.wait_msg, 0.1)
    assert "gave up" in str(err), str(err)
    eq(c.pending(), [1], "nothing lost: the message waits for the next connection")


def test_a_publish_that_gave_up_is_the_callers_again():
    # umqtt's meaning without a window: a publish that raised did not deliver; the caller
    # retries it, so the client keeps no copy that would go out twice.
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, clock=clock, reconnect_tries=2, timeout=0.2)
    c.connect()
    fb.silent.add(0)
    fb.refuse = 100
    raises(GaveUp, c.publish, "nodes/node-1/g", "lost?", qos=1)
    eq(c.pending(), [], "not kept")
    fb.refuse = 0
    c.connect()
    eq(c.publish("nodes/node-1/g", "again", qos=1), 2, "the retry gets the next id")
    eq([p.msg for p in fb.publishes if p.conn == 1], [b"again"], "nothing resent behind its back")


def test_wait_acks_is_bounded_and_keeps_the_connection():
    fb = FakeBroker()
    c = client(fb, window=4, timeout=5)
    c.connect()
    fb.hold.update((1, 2))
    c.publish("nodes/node-1/a", "1", qos=1)
    c.publish("nodes/node-1/a", "2", qos=1)
    t = time.ticks_ms()
    eq(c.wait_acks(0.3), False, "timed out")
    took = time.ticks_diff(time.ticks_ms(), t)
    assert 250 <= took < 1500, took
    eq(c.pending(), [1, 2], "still in flight")
    assert c.sock is not None, "a deadline is not a dead connection"
    fb.release(1)
    fb.release(2)
    eq(c.wait_acks(1), True, "then acknowledged")


def test_wait_acks_reconnects_within_its_deadline():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, window=4, clock=clock)
    c.connect()
    fb.hold.add(1)
    c.publish("nodes/node-1/a", "1", qos=1)
    fb.hangup()
    fb.refuse = 100                                 # the broker is gone for good
    eq(c.wait_acks(20), False, "gives up at the deadline, does not raise")
    total = sum(ms for _, ms in clock.sleeps)
    assert total <= 20000, "backoff sleeps stay inside the deadline: %d" % total
    eq(c.pending(), [1], "kept")


def test_publish_many_keeps_the_window_full_with_one_write_per_refill():
    fb = FakeBroker()
    c = client(fb, window=8)
    acked = []
    c.on_ack = acked.append
    c.connect()
    msgs = [("nodes/node-1/m", b"%03d" % i) for i in range(50)]
    assert c.publish_many(msgs, 5)
    eq(len(acked), 50, "every message acknowledged")
    eq([p.msg for p in fb.publishes], [m for _, m in msgs], "in order")
    writes = fb.conn.writes[1:]
    assert len(writes) < 50, "refills are coalesced: %d writes" % len(writes)
    assert max(w.count(b"nodes/node-1/m") for w in writes) <= 8, "never more than the window"
    # with explicit ids and DUP, as the wake cycle resends what it sent before sleeping
    assert c.publish_many([("nodes/node-1/m", b"x", 900, True), ("nodes/node-1/m", b"y", 901, False)], 5)
    eq([(p.pid, p.dup) for p in fb.publishes[-2:]], [(900, True), (901, False)], "ids and DUP")


def test_queue_is_bounded_by_the_window_before_connect():
    fb = FakeBroker()
    c = client(fb, window=2)
    c.publish("nodes/node-1/q", "a", qos=1)
    c.publish("nodes/node-1/q", "b", qos=1)
    err = raises(Exception, c.publish, "nodes/node-1/q", "c", qos=1)
    assert "window full" in str(err), str(err)


def test_at_most_early_publishes_go_before_connack():
    # aedes refuses a connection that sends more than 42 packets before its CONNACK. A broker
    # that never answers CONNECT sees exactly what goes before CONNACK.
    for early, want in ((None, 32), (5, 5), (0, 0)):
        fb = FakeBroker()
        fb.connack = None
        c = client(fb, window=64) if early is None else client(fb, window=64, early=early)
        for i in range(64):
            c.publish("nodes/node-1/q", str(i), qos=1)
        raises(OSError, c.connect, False)
        eq(fb.packets[0][1], 0x10, "CONNECT first")
        eq(len(fb.publishes), want, "publishes before CONNACK")
        fb.connack = 0
        c.connect(clean_session=False)
        assert c.wait_acks(TIMEOUT), "the rest follow CONNACK"
        eq(len(set(p.pid for p in fb.publishes)), 64, "all sent")
