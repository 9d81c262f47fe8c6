"""MQTT over TLS: node.mqtt next to a raw floor measured in the same run.

The device side (bench/mqtt_device.py) runs under the unix port against a local Mosquitto over
TLS (RSA-2048 broker certificate, CA checked, TCP_NODELAY): node.mqtt through node.tls, and
interleaved with it the raw floor (bench/mqtt_raw.py), a minimal script that writes the same
MQTT bytes over the same kind of TLS socket with no library.

  wake-to-ack      socket open -> TLS -> CONNECT + the buffered QoS 1 PUBLISH in one flight ->
                   the PUBACK, median of RUNS wakes (target: within 1.15 x the floor)
  round trips      the same through a proxy adding DELAY one way: (through - direct) / 2 DELAY,
                   plus the TCP handshake the proxy cannot see (target: 4 for a full window)
  flush            2000 QoS 1 messages of 64 bytes with the window kept full, messages/s, next
                   to the raw floor's QoS 0 rate (target: at least half)
Measured against a broker with `set_tcp_nodelay true` (what host_tools writes) and one with
Mosquitto's default (false).
"""

import json
import secrets
import statistics
from pathlib import Path

from host_tools import localbroker, unixport
from host_tools.pki import Pki

from .bench_codesize import mpy_size
from .figures import Figure
from .mqtt_proxy import DelayProxy

HERE = Path(__file__).resolve().parent
FIRMWARE = HERE.parent / "firmware"
STACK = ("mqtt", "mqttlink", "mqttcodec", "tls", "tlswatch", "backoff")
WINDOW = 32
RUNS = 41
PROXY_RUNS = 9
DELAY = 0.025          # s, one way
FLUSH = 2000
FLUSH_RUNS = 9


def _device(workdir, port, **params):
    params.update(host="localhost", port=port, user="node-1")
    params["password"] = _device.password
    path = workdir / "params.json"
    path.write_text(json.dumps(params))
    proc = unixport.run([str(HERE / "mqtt_device.py"), str(path)], cwd=workdir,
                        path_extra=[HERE], timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"mqtt_device.py failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _med(xs):
    return statistics.median(xs)


def _wakes(dev, port, count, window, runs):
    r = _device(dev, port, what="wake", runs=runs, count=count, window=window)
    return _med(r["client_us"]) / 1000, _med(r["raw_us"]) / 1000


def _round_trips(direct_ms, proxied_ms):
    data = (proxied_ms - direct_ms) / (2 * DELAY * 1000)
    return 1 + round(data), data


def run(ctx):
    pki = Pki(ctx.workdir / "pki")
    pki.create_ca(common_name="bench CA")
    pki.issue_broker(dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    dev = ctx.workdir / "device"
    dev.mkdir()
    (dev / "ca.der").write_bytes(pki.ca_der.read_bytes())
    brokers = {}
    proxy = None
    figures = []
    try:
        _device.password = secrets.token_urlsafe(16)
        for name, extra in (("nodelay", []), ("default", ["set_tcp_nodelay false"])):
            b = localbroker.prepare(ctx.workdir / f"broker-{name}", pki, devices=("node-1",),
                                    users={"node-1": _device.password},
                                    autosave_interval=3600, extra=extra)
            brokers[name] = b.start()
        b = brokers["nodelay"]

        # (a) wake-to-ack, one message
        c1, r1 = _wakes(dev, b.tls_port, 1, WINDOW, RUNS)
        figures.append(Figure("wake-to-ack, 1 QoS 1 message", round(c1, 2), "ms",
                              "raw floor, same bytes", round(r1, 2),
                              f"median of {RUNS}; ratio {c1 / r1:.3f} (target <= 1.15); "
                              "socket open -> TLS (CA) -> CONNECT+PUBLISH -> PUBACK"))
        cw, rw = _wakes(dev, b.tls_port, WINDOW, WINDOW, RUNS)
        figures.append(Figure(f"wake-to-ack, {WINDOW} buffered messages (window {WINDOW})",
                              round(cw, 2), "ms", "raw floor, same bytes", round(rw, 2),
                              f"median of {RUNS}; ratio {cw / rw:.3f}"))

        # round trips, through a delay proxy
        proxy = DelayProxy("127.0.0.1", b.tls_port, DELAY)
        pc1, pr1 = _wakes(dev, proxy.port, 1, WINDOW, PROXY_RUNS)
        pcw, prw = _wakes(dev, proxy.port, WINDOW, WINDOW, PROXY_RUNS)
        ps4, _ = _wakes(dev, proxy.port, 4, 0, 3)
        s4, _ = _wakes(dev, b.tls_port, 4, 0, 9)
        rt_c1, d_c1 = _round_trips(c1, pc1)
        rt_r1, d_r1 = _round_trips(r1, pr1)
        rt_cw, d_cw = _round_trips(cw, pcw)
        rt_rw, d_rw = _round_trips(rw, prw)
        rt_s4, d_s4 = _round_trips(s4, ps4)
        how = (f"1 TCP handshake + data round trips measured through a proxy adding "
               f"{DELAY * 1000:.0f} ms one way")
        figures.append(Figure("round trips, socket open to PUBACK, 1 message", rt_c1, "RTT",
                              "raw floor", rt_r1,
                              f"{how}: {d_c1:.2f} (floor {d_r1:.2f}); through proxy "
                              f"{pc1:.0f} ms vs {c1:.1f} ms direct"))
        figures.append(Figure(f"round trips, socket open to last PUBACK, {WINDOW} messages",
                              rt_cw, "RTT", "target", 4,
                              f"{how}: {d_cw:.2f}; raw floor {rt_rw} ({d_rw:.2f}); window {WINDOW}"))
        figures.append(Figure("round trips, stop-and-wait (window 0), 4 messages", rt_s4, "RTT",
                              "umqtt.robust: 4 + N", 8, f"{how}: {d_s4:.2f}"))

        # (b) flush throughput
        fl = _device(dev, b.tls_port, what="flush", runs=FLUSH_RUNS, count=FLUSH, window=WINDOW,
                     broker_pid=b.process.proc.pid)
        client, each, one = _med(fl["client"]), _med(fl["raw_each"]), _med(fl["raw_one"])
        paired = _med([c / r for c, r in zip(fl["client"], fl["raw_each"])])
        figures.append(Figure(f"flush {FLUSH} x 64 B QoS 1 (window {WINDOW})", round(client),
                              "msg/s", "raw QoS 0, one write per message", round(each),
                              f"medians of {FLUSH_RUNS} runs, each next to its own floor run; "
                              f"median ratio {paired:.2f} (target >= 0.5); socket already open, "
                              "first PUBLISH to last PUBACK"))
        n = FLUSH * FLUSH_RUNS
        if fl["cpu_client"] and fl["cpu_raw"]:
            cq1, cq0 = fl["cpu_client"] * 1000 / n, fl["cpu_raw"] * 1000 / n
            figures.append(Figure("CPU per message, client + broker: QoS 1 flush", round(cq1, 1),
                                  "us/msg", "raw QoS 0, one write per message", round(cq0, 1),
                                  f"user+system time of micropython and mosquitto over all "
                                  f"{FLUSH_RUNS} runs (/proc, 10 ms ticks); floor/flush "
                                  f"{cq0 / cq1:.2f}: the throughput ratio where client and broker "
                                  "cannot run side by side (a busy 2-core machine)"))
        figures.append(Figure("raw QoS 0, all 2000 in one write", round(one), "msg/s",
                              f"flush QoS 1 (window {WINDOW})", round(client),
                              f"the wire's ceiling, for scale: QoS 1 flush is {client / one:.2f} of it"))
        figures.append(Figure(f"GC allocation per flushed message (window {WINDOW})",
                              round(fl["heap"] / FLUSH), "bytes/msg", "", None,
                              "heap allocated during a flush before any collection (garbage: "
                              "what the GC must reclaim), divided by the messages; TLS buffers "
                              "are outside the GC heap in this build"))
        held = _device(dev, b.tls_port, what="heap", window=8)
        figures.append(Figure("GC heap held by a connected client, window 8 full", held, "bytes",
                              "", None, "client, TLS watch, 8 queued 64-byte messages; TLS "
                              "buffers not counted (outside the GC heap in this build)"))

        # against Mosquitto's default, set_tcp_nodelay false
        d = brokers["default"]
        dc1, dr1 = _wakes(dev, d.tls_port, 1, WINDOW, RUNS)
        dcw, drw = _wakes(dev, d.tls_port, WINDOW, WINDOW, 21)
        dfl = _device(dev, d.tls_port, what="flush", runs=3, count=FLUSH, window=WINDOW)
        figures.append(Figure("wake-to-ack, 1 message, broker without set_tcp_nodelay",
                              round(dc1, 2), "ms", "raw floor, same bytes", round(dr1, 2),
                              f"median of {RUNS}; ratio {dc1 / dr1:.3f}; with nodelay: {c1:.2f} ms"))
        figures.append(Figure(f"wake-to-ack, {WINDOW} messages, broker without set_tcp_nodelay",
                              round(dcw, 2), "ms", "raw floor, same bytes", round(drw, 2),
                              f"median of 21; ratio {dcw / drw:.3f}; with nodelay: {cw:.2f} ms"))
        dpaired = _med([c / r for c, r in zip(dfl["client"], dfl["raw_each"])])
        figures.append(Figure("flush, broker without set_tcp_nodelay", round(_med(dfl["client"])),
                              "msg/s", "raw QoS 0, one write per message", round(_med(dfl["raw_each"])),
                              f"median of 3; median ratio {dpaired:.2f}; its PUBACKs wait for our "
                              "delayed ACKs (Nagle on the broker)"))
    finally:
        if proxy:
            proxy.close()
        for b in brokers.values():
            b.stop()

    # code size of the client stack, as mpy-cross compiles it
    total = src = 0
    for name in STACK:
        path = FIRMWARE / "node" / f"{name}.py"
        total += mpy_size(path, ctx.workdir / f"{name}.mpy")
        src += path.stat().st_size
    figures.append(Figure("code size, MQTT+TLS stack (.mpy)", total, "bytes", "source .py bytes",
                          src, " + ".join(f"node/{n}.mpy" for n in STACK) +
                          "; each module also in the code size rows"))
    return figures
