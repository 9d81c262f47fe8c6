# The device side of bench_mqtt, run under the unix port: node.mqtt (over node.tls) next to
# the raw floor (mqtt_raw), interleaved in one process so both see the same machine.
#   micropython mqtt_device.py params.json   ->  one line of JSON
import gc
import json
import ssl
import sys
import time

import mqtt_raw
from node import mqttcodec
from node.mqtt import MQTTClient
from node.tls import make_context

P = json.load(open(sys.argv[1]))
HOST = P["host"]
PORT = P["port"]
USER = P["user"]
PW = P["password"]
CID = "node-1"
TOPIC = "nodes/node-1/readings"
PAYLOAD = b"x" * 64


def raw_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    with open("ca.der", "rb") as f:
        ctx.load_verify_locations(cadata=f.read())
    return ctx


def client_wake(ctx, count, window):
    c = MQTTClient(CID, HOST, PORT, USER, PW, 60, ssl=ctx, window=window)
    if window:
        for _ in range(count):
            c.publish(TOPIC, PAYLOAD, qos=1)        # buffered readings: go with CONNECT
    t0 = time.ticks_us()
    c.connect(clean_session=False)
    if window:
        ok = c.wait_acks(10)
    else:
        for _ in range(count):                      # stop-and-wait, as umqtt.robust
            c.publish(TOPIC, PAYLOAD, qos=1)
        ok = True
    t1 = time.ticks_us()
    c.disconnect()
    if not ok:
        raise OSError(110, "acks missing")
    return time.ticks_diff(t1, t0)


def raw_flight(count):
    flight = mqtt_raw.connect_bytes(CID.encode(), USER.encode(), PW.encode(), 60, False)
    for i in range(count):
        flight += mqtt_raw.publish_bytes(TOPIC.encode(), PAYLOAD, 1, i + 1)
    # The floor must send exactly what the client sends.
    same = bytes(mqttcodec.connect_packet(CID, False, 60, USER, PW))
    for i in range(count):
        same += bytes(mqttcodec.publish_packet(TOPIC.encode(), PAYLOAD, 1, False, i + 1))
    assert flight == same, "raw floor bytes differ from the client's"
    return flight


def wake(runs, count, window):
    ctx = make_context({"mode": "ca", "ca": "ca.der"}, ".")
    rctx = raw_context()
    flight = raw_flight(count)
    client_us = []
    raw_us = []
    for i in range(runs):
        # interleaved, alternating which goes first
        if i & 1:
            client_us.append(client_wake(ctx, count, window))
            raw_us.append(mqtt_raw.wake(rctx, HOST, PORT, flight, 4 + 4 * count))
        else:
            raw_us.append(mqtt_raw.wake(rctx, HOST, PORT, flight, 4 + 4 * count))
            client_us.append(client_wake(ctx, count, window))
    return {"client_us": client_us, "raw_us": raw_us}


def _cpu_ms(pid="self"):
    # user + system CPU time of a process, from /proc (Linux; 10 ms ticks)
    try:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 10
    except OSError:
        return 0


def _cpu_both():
    return _cpu_ms() + _cpu_ms(P.get("broker_pid", "self"))


def flush(runs, count, window):
    ctx = make_context({"mode": "ca", "ca": "ca.der"}, ".")
    rctx = raw_context()
    msgs = [(TOPIC, PAYLOAD)] * count
    connect = mqtt_raw.connect_bytes(b"raw-floor", USER.encode(), PW.encode(), 60, True)
    q0 = [mqtt_raw.publish_bytes(TOPIC.encode(), PAYLOAD, 0)] * count
    out = {"client": [], "raw_each": [], "raw_one": [], "heap": 0, "cpu_client": 0, "cpu_raw": 0}

    def raw_each():
        rate, used = mqtt_raw.qos0_rate(rctx, HOST, PORT, connect, q0, False, _cpu_both)
        out["raw_each"].append(rate)
        out["cpu_raw"] += used

    for i in range(runs):
        if i & 1:           # alternate which goes first
            raw_each()
        c = MQTTClient(CID, HOST, PORT, USER, PW, 60, ssl=ctx, window=window)
        c.connect(clean_session=False)
        gc.collect()
        before = gc.mem_alloc()
        c0 = _cpu_both()
        t0 = time.ticks_us()
        if not c.publish_many(msgs, 30):
            raise OSError(110, "flush did not finish")
        dt = time.ticks_diff(time.ticks_us(), t0)
        out["cpu_client"] += _cpu_both() - c0
        out["heap"] = max(out["heap"], gc.mem_alloc() - before)
        c.disconnect()
        out["client"].append(count * 1000000 / dt)
        if not i & 1:
            raw_each()
        out["raw_one"].append(mqtt_raw.qos0_rate(rctx, HOST, PORT, connect, q0, True))
    return out


def heap(window):
    # GC heap held by a connected client with a full window (TLS buffers are outside the GC
    # heap in this build, so not counted).
    ctx = make_context({"mode": "ca", "ca": "ca.der"}, ".")
    gc.collect()
    before = gc.mem_alloc()
    c = MQTTClient(CID, HOST, PORT, USER, PW, 60, ssl=ctx, window=window)
    for _ in range(window):
        c.publish(TOPIC, PAYLOAD, qos=1)
    c.connect(clean_session=False)
    gc.collect()
    held = gc.mem_alloc() - before
    c.wait_acks(10)
    c.disconnect()
    return held


what = P["what"]
if what == "wake":
    res = wake(P["runs"], P["count"], P["window"])
elif what == "flush":
    res = flush(P["runs"], P["count"], P["window"])
else:
    res = heap(P["window"])
print(json.dumps(res))
