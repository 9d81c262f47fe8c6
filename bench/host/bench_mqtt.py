"""Delivery over MQTT + TLS: node.mqtt next to a raw floor measured in the same run.

The device side (bench/mqtt_device.py) runs under the unix port against a local Mosquitto over
TLS as host_tools configures it (RSA-2048 broker certificate, CA and name checked,
set_tcp_nodelay true): node.mqtt through node.tls, and interleaved with it the raw floor
(bench/mqtt_raw.py), a minimal script that writes the same MQTT bytes in the same flights over
the same kind of TLS socket (mbedtls, CA checked, TCP_NODELAY) with no library.

Readings go out as node.app.Node.deliver sends a buffer: the first window (mqtt.window, the
firmware's default) in the CONNECT flight, then the buffer a window at a time, every PUBACK of
a window in before the next (the ring buffer is acknowledged a window at a time). The payloads
are the node's own (node.reading JSON). Ring buffer reads and acks are not in these figures
(bench_node has whole wakes).

  wake-to-ack   socket open -> TCP -> TLS -> CONNECT + first window -> ... -> the last PUBACK,
                of 1, 10 and 100 buffered readings; median of RUNS
  round trips   the same through a proxy adding DELAY one way: (through - direct) / 2 DELAY,
                plus the TCP handshake the proxy cannot see
  flush         FLUSH readings on an open connection, first PUBLISH to last PUBACK, msg/s
"""

from .figures import Figure
from .mqtt_proxy import DelayProxy
from .rig import Rig, firmware_defaults, median

COUNTS = (1, 10, 100)
RUNS = 31
PROXY_RUNS = 5
DELAY = 0.025          # s, one way
FLUSH = 1000
FLUSH_RUNS = 9


def _round_trips(direct_ms, proxied_ms):
    data = (proxied_ms - direct_ms) / (2 * DELAY * 1000)
    return 1 + round(data), data


def run(ctx):
    window = firmware_defaults()["mqtt"]["window"]
    rig = Rig(ctx.workdir)
    proxy = None
    figures = []
    try:
        b = rig.broker()
        direct = {}
        for n in COUNTS:
            r = rig.device(b.tls_port, what="deliver", runs=RUNS, count=n, window=window)
            direct[n] = (median(r["client_us"]) / 1000, median(r["raw_us"]) / 1000)
        proxy = DelayProxy("127.0.0.1", b.tls_port, DELAY)
        proxied = {}
        for n in COUNTS:
            r = rig.device(proxy.port, what="deliver", runs=PROXY_RUNS, count=n, window=window)
            proxied[n] = (median(r["client_us"]) / 1000, median(r["raw_us"]) / 1000)

        how = (f"socket open to the last PUBACK over TLS, median of {RUNS}, loopback; flights "
               f"as node.app sends a buffer: the first window of {window} (mqtt.window default) "
               "with CONNECT, then a window at a time")
        for n in COUNTS:
            c, r = direct[n]
            figures.append(Figure(f"wake-to-ack, {n} buffered reading{'s' if n > 1 else ''}",
                                  round(c, 2), "ms", "raw floor: same bytes, same flights, no library",
                                  round(r, 2), f"{how}; ratio {c / r:.3f}" if n == 1 else
                                  f"ratio {c / r:.3f}"))
        for n in COUNTS:
            (c, r), (pc, pr) = direct[n], proxied[n]
            rt_c, d_c = _round_trips(c, pc)
            rt_r, d_r = _round_trips(r, pr)
            figures.append(Figure(
                f"round trips, wake-to-ack, {n} buffered reading{'s' if n > 1 else ''}", rt_c, "RTT",
                "raw floor, same flights", rt_r,
                f"1 TCP handshake + {d_c:.2f} measured through a proxy adding {DELAY * 1000:.0f} ms "
                f"one way (median of {PROXY_RUNS}: {pc:.0f} ms vs {c:.1f} ms direct; floor "
                f"{d_r:.2f}); TCP 1 + TLS 1.2 2 + one per window of {window}: "
                f"{3 + -(-n // window)}; a stop-and-wait client (umqtt) needs 4 + N = {4 + n}"))

        fl = rig.device(b.tls_port, what="flush_chunks", runs=FLUSH_RUNS, count=FLUSH, window=window)
        rates = [FLUSH * 1e6 / us for us in fl["client_us"]]
        raw_rates = [FLUSH * 1e6 / us for us in fl["raw_us"]]
        paired = median([c / r for c, r in zip(rates, raw_rates)])
        figures.append(Figure(f"flush throughput, QoS 1, {FLUSH} buffered readings", round(median(rates)),
                              "msg/s", "raw floor, same flights", round(median(raw_rates)),
                              f"connection open, first PUBLISH to last PUBACK, a window of {window} "
                              f"at a time as node.app flushes the buffer; medians of {FLUSH_RUNS} "
                              f"runs, each next to a floor run: median ratio {paired:.2f}; "
                              "bench_mqtt_extra has the client's own limit (window kept full)"))
    finally:
        if proxy:
            proxy.close()
        rig.close()
    return figures
