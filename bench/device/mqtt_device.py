# The device side of bench_mqtt (and bench_mqtt_extra), run under the unix port: node.mqtt.client
# (over node.tls) next to the raw floor (mqtt_raw), interleaved in one process so both see the
# same machine.
#   micropython mqtt_device.py params.json   ->  one line of JSON
# params: host, port, user, password, what, and for what:
#   deliver       runs, count, window: socket open -> last PUBACK of `count` buffered readings,
#                 sent as node.app.Node.deliver sends them
#   flush_chunks  runs, count, window: the same on an open connection (messages/s)
#   wake          runs, count, window: all `count` queued into the CONNECT flight (window >=
#                 count), or stop-and-wait (window 0)
#   flush         runs, count, window: publish_many with the window kept full, vs raw QoS 0
#   heap          window: GC heap held by a connected client with a full window
import gc
import json
import ssl
import sys
import time

import mqtt_raw
from node import reading
from node.mqtt import packets
from node.mqtt.client import MQTTClient
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


def raw_connect():
    connect = mqtt_raw.connect_bytes(CID.encode(), USER.encode(), PW.encode(), 60, False)
    # The floor must send exactly what the client sends.
    assert connect == bytes(packets.connect(CID, False, 60, USER, PW)), \
        "raw floor CONNECT differs from the client's"
    return connect


def raw_chunks(payloads, per_chunk, first_pid=1):
    """The PUBLISH packets of payloads (pids from first_pid) in flights of per_chunk."""
    chunks = []
    for i in range(0, len(payloads), per_chunk):
        data = b""
        for k, p in enumerate(payloads[i:i + per_chunk]):
            pid = first_pid + i + k
            pkt = mqtt_raw.publish_bytes(TOPIC.encode(), p, 1, pid)
            assert pkt == bytes(packets.publish(TOPIC.encode(), p, 1, False, pid)), \
                "raw floor PUBLISH differs from the client's"
            data += pkt
        chunks.append((data, len(payloads[i:i + per_chunk])))
    return chunks


def _interleave(runs, client, raw, warmup=3):
    # client and raw floor in turn, alternating which goes first: both see the same machine;
    # the first few of each are not counted (caches, the broker's first connections)
    for _ in range(warmup):
        client()
        raw()
    client_us = []
    raw_us = []
    for i in range(runs):
        if i & 1:
            client_us.append(client())
            raw_us.append(raw())
        else:
            raw_us.append(raw())
            client_us.append(client())
    return {"client_us": client_us, "raw_us": raw_us}


def wake(runs, count, window):
    ctx = make_context({"mode": "ca", "ca": "ca.der"}, ".")
    rctx = raw_context()
    connect = raw_connect()
    chunks = raw_chunks([PAYLOAD] * count, max(count, 1))
    return _interleave(runs, lambda: client_wake(ctx, count, window),
                       lambda: mqtt_raw.wake(rctx, HOST, PORT, connect, chunks))


# --- the node's delivery, as node.app.Node.deliver sends a buffer of readings ---

def readings(count):
    """The JSON payloads the node publishes for `count` readings (node.reading)."""
    out = []
    for n in range(1, count + 1):
        rec = reading.pack(n, 1767225600 + 60 * n, (20 + n % 50 / 10, 40 + n % 200 / 10))
        out.append(reading.payload(rec, CID, ("temp_c", "rh")).encode())
    return out


def client_deliver(ctx, payloads, window):
    # node.app.Node.deliver: the first window of the buffer queued into the CONNECT flight,
    # then the buffer a window at a time (publish_many, one write per chunk, every PUBACK of a
    # chunk before the next, since the buffer acknowledges a chunk at a time).
    c = MQTTClient(CID, HOST, PORT, USER, PW, 60, ssl=ctx, window=window)
    for k, p in enumerate(payloads[:window]):
        c.publish(TOPIC, p, qos=1, pid=k + 1)
    t0 = time.ticks_us()
    c.connect(clean_session=False)
    if not c.wait_acks(10):
        raise OSError(110, "acks missing")
    for i in range(window, len(payloads), window):
        chunk = [(TOPIC, p, i + k + 1, False) for k, p in enumerate(payloads[i:i + window])]
        if not c.publish_many(chunk, 10):
            raise OSError(110, "acks missing")
    t1 = time.ticks_us()
    c.disconnect()
    return time.ticks_diff(t1, t0)


def deliver(runs, count, window):
    ctx = make_context({"mode": "ca", "ca": "ca.der"}, ".")
    rctx = raw_context()
    payloads = readings(count)
    connect = raw_connect()
    chunks = raw_chunks(payloads, window)
    res = _interleave(runs, lambda: client_deliver(ctx, payloads, window),
                      lambda: mqtt_raw.wake(rctx, HOST, PORT, connect, chunks))
    res["bytes"] = sum(len(p) for p in payloads)
    return res


def flush_chunks(runs, count, window):
    """A buffer of `count` readings flushed on an open connection, a window at a time (as
    node.app.deliver after the first window): first PUBLISH to last PUBACK, both ways."""
    ctx = make_context({"mode": "ca", "ca": "ca.der"}, ".")
    rctx = raw_context()
    payloads = readings(count)
    chunks = raw_chunks(payloads, window)
    raw_connect_b = mqtt_raw.connect_bytes(b"raw-floor", USER.encode(), PW.encode(), 60, True)

    def client():
        c = MQTTClient(CID, HOST, PORT, USER, PW, 60, ssl=ctx, window=window)
        c.connect(clean_session=False)
        t0 = time.ticks_us()
        for i in range(0, count, window):
            chunk = [(TOPIC, p, i + k + 1, False) for k, p in enumerate(payloads[i:i + window])]
            if not c.publish_many(chunk, 30):
                raise OSError(110, "flush did not finish")
        dt = time.ticks_diff(time.ticks_us(), t0)
        c.disconnect()
        return dt

    def raw():
        t = mqtt_raw.connected(rctx, HOST, PORT, raw_connect_b)
        dt = mqtt_raw.flush(t, chunks)
        t.write(b"\xe0\x00")
        t.close()
        return dt

    return _interleave(runs, client, raw)


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
elif what == "deliver":
    res = deliver(P["runs"], P["count"], P["window"])
elif what == "flush_chunks":
    res = flush_chunks(P["runs"], P["count"], P["window"])
elif what == "flush":
    res = flush(P["runs"], P["count"], P["window"])
else:
    res = heap(P["window"])
print(json.dumps(res))
