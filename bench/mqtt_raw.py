# The raw floor for bench_mqtt, run under the unix port: the same MQTT bytes over the same kind
# of TLS socket (TCP_NODELAY, mbedtls, CA checked), written and read by hand, with no client
# library. MicroPython; deliberately minimal.
import socket
import time


def _rl(n):
    out = bytearray()
    while True:
        b = n & 127
        n >>= 7
        out.append(b | 128 if n else b)
        if not n:
            return bytes(out)


def _s(b):
    return bytes((len(b) >> 8, len(b) & 255)) + b


def connect_bytes(client_id, user, password, keepalive, clean):
    body = b"\x00\x04MQTT\x04" + bytes((0xC0 | (2 if clean else 0), keepalive >> 8, keepalive & 255))
    body += _s(client_id) + _s(user) + _s(password)
    return b"\x10" + _rl(len(body)) + body


def publish_bytes(topic, payload, qos, pid=0):
    body = _s(topic) + (bytes((pid >> 8, pid & 255)) if qos else b"") + payload
    return bytes((0x30 | (qos << 1),)) + _rl(len(body)) + body


def tls_socket(ctx, host, port):
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    s = socket.socket()
    s.settimeout(10)
    s.setsockopt(6, 1, 1)          # TCP_NODELAY, as the client sets it
    s.connect(addr)
    return ctx.wrap_socket(s, server_hostname=host)


def wake(ctx, host, port, flight, reply_len):
    """Socket open -> TLS -> one write of CONNECT+PUBLISH(es) -> CONNACK and PUBACK(s): us."""
    t0 = time.ticks_us()
    t = tls_socket(ctx, host, port)
    t.write(flight)
    reply = t.read(reply_len)
    t1 = time.ticks_us()
    t.write(b"\xe0\x00")
    t.close()
    if len(reply) != reply_len or reply[:2] != b"\x20\x02" or reply[3] != 0:
        raise OSError(5, "raw floor: unexpected reply %r" % reply)
    return time.ticks_diff(t1, t0)


def qos0_rate(ctx, host, port, connect, packets, one_write, cpu=None):
    """QoS 0 publishes as fast as they can be written, until a PINGRESP shows the broker has
    read them all: messages/s. With cpu (a function giving CPU ms so far), also the CPU spent
    from the first PUBLISH to the PINGRESP: (rate, cpu ms)."""
    t = tls_socket(ctx, host, port)
    t.write(connect)
    if t.read(4)[3] != 0:
        raise OSError(5, "raw floor: CONNECT refused")
    c0 = cpu() if cpu else 0
    t0 = time.ticks_us()
    if one_write:
        t.write(b"".join(packets))
    else:
        for p in packets:
            t.write(p)
    t.write(b"\xc0\x00")
    if t.read(2) != b"\xd0\x00":
        raise OSError(5, "raw floor: no PINGRESP")
    dt = time.ticks_diff(time.ticks_us(), t0)
    used = cpu() - c0 if cpu else 0
    t.write(b"\xe0\x00")
    t.close()
    rate = len(packets) * 1000000 / dt
    return (rate, used) if cpu else rate
