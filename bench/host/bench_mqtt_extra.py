"""More of node.mqtt over TLS, beyond the figures of `make bench` (run: python -m bench mqtt_extra).

The client's own limits, against the same broker and raw floor as bench_mqtt (see there):

  wake-to-ack      every message queued into the CONNECT flight (a window of WINDOW), median
  round trips      the same through a proxy adding DELAY one way; and stop-and-wait (window 0)
  flush            2000 QoS 1 messages of 64 bytes with the window kept full (publish_many over
                   one iterable), messages/s, next to the raw floor's QoS 0 rate; CPU per
                   message of client and broker
  heap             GC allocation per flushed message; heap held by a connected client
Measured against a broker with `set_tcp_nodelay true` (what host_tools writes) and one with
Mosquitto's default (false).
"""

import statistics

from host_tools.repo import FIRMWARE

from .bench_codesize import mpy_size
from .figures import Figure
from .mqtt_proxy import DelayProxy
from .rig import Rig

STACK = ("mqtt/client", "mqtt/packets", "mqtt/link", "mqtt/many", "tls", "tlsmake", "tlsguard",
         "x509")
WINDOW = 32
RUNS = 41
PROXY_RUNS = 9
DELAY = 0.025          # s, one way
FLUSH = 2000
FLUSH_RUNS = 9


def _med(xs):
    return statistics.median(xs)


def _wakes(rig, port, count, window, runs):
    r = rig.device(port, what="wake", runs=runs, count=count, window=window)
    return _med(r["client_us"]) / 1000, _med(r["raw_us"]) / 1000


def _round_trips(direct_ms, proxied_ms):
    data = (proxied_ms - direct_ms) / (2 * DELAY * 1000)
    return 1 + round(data), data


def run(ctx):
    rig = Rig(ctx.workdir)
    brokers = {}
    proxy = None
    figures = []
    try:
        brokers["nodelay"] = rig.broker("broker-nodelay")
        brokers["default"] = rig.broker("broker-default", extra=["set_tcp_nodelay false"])
        b = brokers["nodelay"]

        # (a) wake-to-ack, one message
        c1, r1 = _wakes(rig, b.tls_port, 1, WINDOW, RUNS)
        figures.append(Figure("wake-to-ack, 1 QoS 1 message", round(c1, 2), "ms",
                              "raw floor, same bytes", round(r1, 2),
                              f"median of {RUNS}; ratio {c1 / r1:.3f} (target <= 1.15); "
                              "socket open -> TLS (CA) -> CONNECT+PUBLISH -> PUBACK"))
        cw, rw = _wakes(rig, b.tls_port, WINDOW, WINDOW, RUNS)
        figures.append(Figure(f"wake-to-ack, {WINDOW} buffered messages (window {WINDOW})",
                              round(cw, 2), "ms", "raw floor, same bytes", round(rw, 2),
                              f"median of {RUNS}; ratio {cw / rw:.3f}"))

        # round trips, through a delay proxy
        proxy = DelayProxy("127.0.0.1", b.tls_port, DELAY)
        pc1, pr1 = _wakes(rig, proxy.port, 1, WINDOW, PROXY_RUNS)
        pcw, prw = _wakes(rig, proxy.port, WINDOW, WINDOW, PROXY_RUNS)
        ps4, _ = _wakes(rig, proxy.port, 4, 0, 3)
        s4, _ = _wakes(rig, b.tls_port, 4, 0, 9)
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
        fl = rig.device(b.tls_port, what="flush", runs=FLUSH_RUNS, count=FLUSH, window=WINDOW,
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
        held = rig.device(b.tls_port, what="heap", window=8)
        figures.append(Figure("GC heap held by a connected client, window 8 full", held, "bytes",
                              "", None, "client, TLS watch, 8 queued 64-byte messages; TLS "
                              "buffers not counted (outside the GC heap in this build)"))

        # against Mosquitto's default, set_tcp_nodelay false
        d = brokers["default"]
        dc1, dr1 = _wakes(rig, d.tls_port, 1, WINDOW, RUNS)
        dcw, drw = _wakes(rig, d.tls_port, WINDOW, WINDOW, 21)
        dfl = rig.device(d.tls_port, what="flush", runs=3, count=FLUSH, window=WINDOW)
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
        rig.close()

    # code size of the client stack, as mpy-cross compiles it
    total = src = 0
    for name in STACK:
        path = FIRMWARE / "node" / f"{name}.py"
        total += mpy_size(path, ctx.workdir / f"{name.replace('/', '_')}.mpy")
        src += path.stat().st_size
    figures.append(Figure("code size, MQTT+TLS stack (.mpy)", total, "bytes", "source .py bytes",
                          src, " + ".join(f"node/{n}.mpy" for n in STACK) +
                          "; each module also in the code size rows"))
    return figures
