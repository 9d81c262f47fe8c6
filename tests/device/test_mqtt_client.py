# node.mqtt.client against an in-process fake broker over real loopback sockets: the protocol,
# umqtt.simple's API and meaning, the in-flight window, keepalive; a broken connection raises.
import time

from fakebroker import FakeBroker, FakeClock, client, publish_bytes, u16
from mptest import eq, raises
from node.mqtt.client import MQTTClient, MQTTException, MQTTRefused

TIMEOUT = 30


def test_connect_flags_and_session_present():
    fb = FakeBroker()
    c = client(fb)
    fb.session_present = 1
    eq(c.connect(clean_session=False), 1, "session present")
    (_, head, body), = fb.packets
    eq(head, 0x10, "CONNECT")
    eq(body[:7], b"\x00\x04MQTT\x04", "protocol name and level 4 (3.1.1)")
    eq(body[7], 0xC0, "user + password flags, clean session off")
    eq(u16(body, 8), 60, "keepalive")
    fb.session_present = 0
    eq(c.connect(), 0, "clean session: no session")
    eq(fb.packets[-1][2][7], 0xC2, "clean session flag")
    eq(port_default(), (1883, 8883), "umqtt's default ports")


def port_default():
    class Ctx:
        def wrap_socket(self, sock, server_hostname=None):
            return sock
    return MQTTClient("a", "h").port, MQTTClient("a", "h", ssl=Ctx()).port


def test_every_connack_refusal_is_named_and_closes():
    fb = FakeBroker()
    for code, words in ((1, "protocol"), (2, "client id"), (3, "unavailable"),
                        (4, "bad username or password"), (5, "not authorized"), (77, "unknown")):
        fb.connack = code
        c = client(fb)
        err = raises(MQTTRefused, c.connect)
        eq(err.args[0], code, "code in args[0], as umqtt")
        assert words in str(err), str(err)
        assert c.sock is None and fb.conn.closed, "socket closed after a refusal"
    fb.connack = 5
    text = str(raises(MQTTException, client(fb).connect))
    assert "wrong username/password" in text and "ACL" in text, text


def test_no_connack_is_a_bounded_wait():
    fb = FakeBroker()
    fb.connack = None
    c = client(fb, timeout=0.3)
    t = time.ticks_ms()
    err = raises(OSError, c.connect)
    took = time.ticks_diff(time.ticks_ms(), t)
    assert "no CONNACK" in str(err), str(err)
    assert 250 <= took < 2000, took
    assert fb.conn.closed


def test_publish_qos0_and_qos1_waits_for_its_puback():
    fb = FakeBroker()
    c = client(fb)
    c.connect()
    eq(c.publish("nodes/node-1/a", "zero"), None, "QoS 0 returns nothing, as umqtt")
    pid = c.publish("nodes/node-1/a", b"one", qos=1)
    eq(pid, 1, "first packet id")
    p0, p1 = fb.publishes
    eq((p0.qos, p0.msg), (0, b"zero"), "QoS 0 on the wire")
    eq((p1.qos, p1.pid, p1.dup, p1.msg), (1, 1, False, b"one"), "QoS 1 on the wire")
    eq(c.pending(), [], "acknowledged")
    raises(ValueError, c.publish, "nodes/+/a", "x")
    raises(ValueError, c.publish, "nodes/#", "x", qos=1)
    raises(ValueError, c.publish, "a", "x", qos=2)


def test_packet_ids_wrap_from_65535_to_1():
    fb = FakeBroker()
    c = client(fb)
    c.connect()
    c.pid = 65533                   # the last id handed out (umqtt's attribute)
    eq([c.publish("nodes/node-1/w", "x", qos=1) for _ in range(4)], [65534, 65535, 1, 2], "ids")
    eq([p.pid for p in fb.publishes], [65534, 65535, 1, 2], "on the wire")


def test_window_returns_at_once_and_matches_acks_by_id():
    fb = FakeBroker()
    c = client(fb, window=4)
    acked = []
    c.on_ack = acked.append
    c.connect()
    fb.hold.update((1, 2, 3, 4))
    pids = [c.publish("nodes/node-1/w", "m%d" % i, qos=1) for i in range(4)]
    eq(pids, [1, 2, 3, 4], "ids")
    eq(c.pending(), [1, 2, 3, 4], "all four in flight, none acknowledged yet")
    fb.release(3)
    fb.release(1)
    assert c.wait_acks(0.2) is False, "2 and 4 are still out"
    eq(acked, [3, 1], "acks matched by id, in the order they came")
    eq(c.pending(), [2, 4], "what is left")
    fb.release(4)
    fb.release(2)
    assert c.wait_acks(1)
    eq(acked, [3, 1, 4, 2], "all acknowledged")


def test_full_window_takes_an_ack_before_the_next_publish():
    fb = FakeBroker()
    c = client(fb, window=2)
    c.connect()
    fb.hold.add(1)
    c.publish("nodes/node-1/w", "a", qos=1)
    c.publish("nodes/node-1/w", "b", qos=1)       # acknowledged by the broker, not read yet
    c.publish("nodes/node-1/w", "c", qos=1)       # window full: reads the ack of 2 first
    eq(c.pending(), [1, 3], "in flight")
    eq([p.pid for p in fb.publishes], [1, 2, 3], "sent in order")


def test_connect_and_queued_publishes_go_in_one_write():
    fb = FakeBroker()
    c = client(fb, window=8)
    ids = [c.publish("nodes/node-1/q", "r%d" % i, qos=1) for i in range(3)]
    eq(fb.attempts, 0, "nothing sent before connect()")
    eq(c.pending(), ids, "queued")
    c.connect(clean_session=False)
    first = fb.conns[0].writes[0]
    eq(first[0], 0x10, "the flight starts with CONNECT")
    eq(len(fb.conns[0].writes), 1, "CONNECT and the publishes in one write")
    eq([(p.pid, p.dup, p.msg) for p in fb.publishes],
       [(1, False, b"r0"), (2, False, b"r1"), (3, False, b"r2")], "first send: DUP clear")
    assert c.wait_acks(1)
    eq(c.pending(), [], "all acknowledged")


def test_caller_chosen_packet_id_and_dup():
    fb = FakeBroker()
    c = client(fb, window=4)
    c.connect()
    fb.hold.add(4242)
    eq(c.publish("nodes/node-1/r", "again", qos=1, pid=4242, dup=True), 4242, "the caller's id")
    p = fb.publishes[-1]
    eq((p.pid, p.dup), (4242, True), "sent with the id and DUP asked for")
    err = raises(ValueError, c.publish, "nodes/node-1/r", "x", qos=1, pid=4242)
    assert "in flight" in str(err), str(err)
    raises(ValueError, c.publish, "nodes/node-1/r", "x", qos=1, pid=0)
    raises(ValueError, c.publish, "nodes/node-1/r", "x", qos=1, pid=65536)
    raises(ValueError, c.publish, "nodes/node-1/r", "x", qos=0, dup=True)


def test_subscribe_suback_failure_unsubscribe():
    fb = FakeBroker()
    c = client(fb)
    c.connect()
    raises(ValueError, c.subscribe, "nodes/node-1/cmd/#")      # no callback yet, as umqtt
    c.set_callback(lambda t, m: None)
    eq(c.subscribe("nodes/node-1/cmd/#", 1), 1, "granted QoS")
    (_, head, body), = fb.of_type(0x80)
    eq(head, 0x82, "SUBSCRIBE flags 0b0010")
    eq(body[2:], b"\x00\x12nodes/node-1/cmd/#\x01", "topic filter and QoS")
    fb.suback = 0x80
    err = raises(MQTTException, c.subscribe, "nodes/other/#")
    eq(err.args[0], 0x80, "failure code")
    assert "refused" in str(err) and "ACL" in str(err), str(err)
    c.unsubscribe("nodes/node-1/cmd/#")
    eq(len(fb.of_type(0xA0)), 1, "UNSUBSCRIBE sent and answered")
    raises(ValueError, c.subscribe, "x", 2)


def test_a_program_that_only_publishes_loads_none_of_the_rest():
    # node.mqtt.receive (subscribing, receiving, idle waits) and node.mqtt.many (a window's
    # refills) load when a program first calls one of their methods.
    import sys

    def loaded():
        return [m for m in ("node.mqtt.receive", "node.mqtt.many") if m in sys.modules]
    fb = FakeBroker()
    c = client(fb)
    c.connect()
    eq(c.publish("nodes/node-1/readings", b"1", qos=1), 1, "packet id")
    c.disconnect()
    eq(loaded(), [], "modules loaded by connect, publish and disconnect")
    c.connect()
    c.set_callback(lambda t, m: None)
    eq(c.subscribe("nodes/node-1/cmd/#", 1), 1, "granted QoS")
    eq(loaded(), ["node.mqtt.receive"], "modules loaded by subscribe")
    unsubscribe = c.unsubscribe
    unsubscribe("nodes/node-1/cmd/#")
    eq(len(fb.of_type(0xA0)), 1, "a method taken from the client, then called")
    eq(c.pending(), [], "pending")
    eq(loaded(), ["node.mqtt.receive", "node.mqtt.many"], "modules loaded by pending")
    err = raises(AttributeError, getattr, c, "subscibe")
    assert "subscibe" in str(err), str(err)
    eq(getattr(c, "_held", None), (), "a class default still reads as one")


def test_incoming_publish_qos0_and_qos1():
    fb = FakeBroker()
    c = client(fb)
    got = []
    c.set_callback(lambda t, m: got.append((t, m)))
    c.connect()
    fb.send(publish_bytes(b"nodes/node-1/cmd/a", b"hello", 1, 7))
    eq(c.wait_msg(), 0x32, "wait_msg returns the packet's type byte, as umqtt")
    eq(got, [(b"nodes/node-1/cmd/a", b"hello")], "callback with bytes")
    eq(fb.of_type(0x40)[-1][2], b"\x00\x07", "PUBACK with the message's id")
    fb.send(publish_bytes(b"t", b"", 0))
    eq(c.check_msg(), 0x30, "check_msg handles a waiting packet")
    eq(got[-1], (b"t", b""), "empty payload")
    eq(len(fb.of_type(0x40)), 1, "no PUBACK for QoS 0")


def test_check_msg_returns_at_once_and_wait_msg_is_bounded():
    fb = FakeBroker()
    c = client(fb, timeout=5)
    c.connect()
    t = time.ticks_ms()
    eq(c.check_msg(), None, "nothing waiting")
    assert time.ticks_diff(time.ticks_ms(), t) < 100, "check_msg does not wait"
    t = time.ticks_ms()
    eq(c.wait_msg(0.3), None, "nothing came")
    took = time.ticks_diff(time.ticks_ms(), t)
    assert 250 <= took < 1500, took


def test_pingreq_within_the_keepalive_only_when_idle():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, keepalive=60, clock=clock)
    c.connect()
    sent_at = []
    # An idle loop calling check_msg once per (fake) second for 10 minutes, with a publish
    # now and then: the gaps between packets the client sends must stay under the keepalive.
    last = clock.ticks_ms()
    for s in range(600):
        clock.advance(1000)
        if s in (100, 130, 400):
            c.publish("nodes/node-1/x", "tick")
        n = len(fb.packets)
        c.check_msg()
        c.check_msg()                       # reads the PINGRESP
        if len(fb.packets) > n or s in (100, 130, 400):
            now = clock.ticks_ms()
            sent_at.append(now)
            assert clock.ticks_diff(now, last) < 60000, "gap of %d ms" % clock.ticks_diff(now, last)
            last = now
    pings = fb.of_type(0xC0)
    assert 10 <= len(pings) <= 14, len(pings)        # about one per 45 s of idleness
    # never a PINGREQ while traffic flows: just after a publish, nothing is due
    c.publish("nodes/node-1/x", "tick")
    eq(c.ping_if_due(), False, "not due right after a publish")
    clock.advance(44000)
    eq(c.ping_if_due(), False, "not due at 44 s")
    clock.advance(1000)
    eq(c.ping_if_due(), True, "due at 45 s (3/4 of 60)")
    eq(c.ping_if_due(), False, "one outstanding at a time")


def test_overdue_pingresp_drops_the_connection():
    fb = FakeBroker()
    clock = FakeClock()
    c = client(fb, keepalive=10, clock=clock, timeout=1)
    c.connect()
    fb.answer_ping = False
    clock.advance(8000)
    c.check_msg()
    eq(len(fb.of_type(0xC0)), 1, "PINGREQ sent")
    clock.advance(1500)
    err = raises(OSError, c.check_msg)
    assert "no PINGRESP" in str(err), err
    assert fb.conns[0].closed and c.sock is None, "the dead connection was closed"
    eq(len(fb.conns), 1, "and no new one made: reconnecting is node.mqtt.robust's job")
    # robust's check_msg reconnects, as umqtt.robust's does
    c = client(fb, robust=True, keepalive=10, clock=clock, timeout=1)
    errors = []
    c.log = lambda in_reconnect, e: errors.append(e)
    c.connect()
    clock.advance(8000)
    c.check_msg()
    clock.advance(1500)
    c.check_msg()
    assert errors and "no PINGRESP" in str(errors[0]), errors
    eq(len(fb.conns), 3, "robust made a new connection")


def test_disconnect_suppresses_nothing_pending():
    fb = FakeBroker()
    c = client(fb, window=4)
    c.connect()
    fb.hold.add(1)
    c.publish("nodes/node-1/d", "kept", qos=1)
    c.disconnect()
    eq(fb.packets[-1][1], 0xE0, "DISCONNECT sent")
    assert fb.conn.closed and c.sock is None
    eq(c.pending(), [1], "the unacknowledged message is kept")
    fb.hold.clear()
    c.connect(False)
    assert c.wait_acks(1)
    p = fb.publishes[-1]
    eq((p.conn, p.pid, p.dup, p.msg), (1, 1, True, b"kept"), "sent again after connect, DUP set")


def test_last_will_goes_in_connect():
    fb = FakeBroker()
    c = client(fb)
    c.set_last_will("nodes/node-1/status", "offline", retain=True, qos=1)
    c.connect()
    body = fb.packets[0][2]
    eq(body[7], 0xC0 | 0x20 | 0x08 | 0x04 | 0x02, "will flag, QoS 1, retain (and clean session)")
    assert b"\x00\x13nodes/node-1/status\x00\x07offline" in body, body
    raises(ValueError, c.set_last_will, "nodes/#", "x")


def test_umqtt_robust_program_runs_unchanged():
    # The shape of micropython-lib's umqtt.robust examples, against node.mqtt.robust.
    from node.mqtt.robust import MQTTClient as RobustClient
    fb = FakeBroker()
    got = []

    def sub_cb(topic, msg):
        got.append((topic, msg))

    c = RobustClient("umqtt_client", "broker.test", socket_factory=fb.factory, timeout=0.5)
    c.DEBUG = True
    assert c.DELAY > 0 and callable(c.delay) and callable(c.log)
    c.set_callback(sub_cb)
    if not c.connect(clean_session=False):
        c.subscribe(b"foo_topic")
    c.publish(b"foo_topic", b"hello")
    fb.send(publish_bytes(b"foo_topic", b"hello"))
    for _ in range(20):
        c.check_msg()
        if got:
            break
        time.sleep_ms(10)
    eq(got, [(b"foo_topic", b"hello")], "message delivered to the callback")
    c.disconnect()
