# node.app's wake against the fake broker, for what Mosquitto does not do: a SUBACK 0x80 to
# the command subscription (as HiveMQ, EMQX or VerneMQ answer one their ACL denies). The
# readings go first; the refusal is logged and shown in the retained status, and asked again
# on a slow schedule (1 h, doubling), not every wake.
import json

import simboard
from fakebroker import FakeBroker
from mptest import eq
from node import app, config
from node.mqtt import link

RAW = {"device_id": "node-1",
       "mqtt": {"host": "broker.test", "user": "node-1", "password": "pw"},
       "node": {"interval_s": 60, "stay_connected_below_s": 0, "rtc_batch": 0}}


def wake(fb):
    """One wake of the real node.app through fb (no TLS); what it logged."""
    link.open_tcp = fb.factory
    # No TLS context: the fake broker speaks MQTT in clear. (node.tls is imported again by
    # every wake, which unloads it once its handshake is done.)
    from node import tls
    tls.make_context = lambda section, base_dir: None
    with open(simboard.sim_dir() + "/dns", "w") as f:      # what the unix board's DNS answers
        f.write("broker.test 127.0.0.1\n")
    log = []
    node = app.Node(simboard, config.validate(RAW), log.append)
    try:
        node.wake()
    except SystemExit:              # simboard's deep sleep
        pass
    return "\n".join(log)


def subscribes(fb, since):
    return [p for p in fb.packets[since:] if p[1] == 0x82]


def statuses(fb):
    return [json.loads(p.msg) for p in fb.publishes if p.topic.endswith(b"/status")]


def readings(fb):
    return [json.loads(p.msg)["seq"] for p in fb.publishes if p.topic.endswith(b"/readings")]


def test_a_refused_command_subscription_is_asked_again_hourly_and_holds_nothing_back():
    fb = FakeBroker()
    fb.suback = 0x80
    out = wake(fb)
    assert "refused the command subscription" in out and "in 3600 s" in out, out
    eq(readings(fb), [1], "the reading went before the SUBSCRIBE")
    assert "ACL" in statuses(fb)[-1]["commands"], statuses(fb)[-1]
    for n in range(2, 6):                       # the next hour: no SUBSCRIBE, readings go
        mark = len(fb.packets)
        out = wake(fb)
        eq(subscribes(fb, mark), [], "asked again within the hour")
        assert "refused" not in out, out
        assert "ACL" in statuses(fb)[-1]["commands"], "the sleeping status says what to fix"
    eq(readings(fb), [1, 2, 3, 4, 5], "every reading delivered")
    simboard._advance(3600 * 1000)
    mark = len(fb.packets)
    out = wake(fb)
    eq(len(subscribes(fb, mark)), 1, "asked again after the hour")
    assert "in 7200 s" in out, out
    fb.suback = None                            # the ACL fixed
    simboard._advance(7200 * 1000)
    out = wake(fb)
    assert "refused" not in out, out
    assert "commands" not in statuses(fb)[-1], statuses(fb)[-1]
    eq(readings(fb), [1, 2, 3, 4, 5, 6, 7], "every reading delivered")
