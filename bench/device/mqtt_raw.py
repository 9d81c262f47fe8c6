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


def _read_acks(t, count):
    # count PUBACKs (4 bytes each), checked
    got = t.read(4 * count)
    if len(got) != 4 * count:
        raise OSError(5, "raw floor: %d of %d PUBACKs" % (len(got) // 4, count))
    for i in range(0, 4 * count, 4):
        if got[i] != 0x40 or got[i + 1] != 2:
            raise OSError(5, "raw floor: expected a PUBACK, got %r" % got[i:i + 4])


def wake(ctx, host, port, connect, chunks):
    """Socket open -> TLS -> one write of CONNECT + the first chunk of QoS 1 PUBLISHes ->
    CONNACK and their PUBACKs -> each further chunk in one write, its PUBACKs: us.
    chunks: [(bytes of the chunk's PUBLISH packets, how many)]: the flights of node.app's
    deliver (the buffer read a window at a time)."""
    t0 = time.ticks_us()
    t = tls_socket(ctx, host, port)
    first, n = chunks[0] if chunks else (b"", 0)
    t.write(connect + first)
    reply = t.read(4)
    if len(reply) != 4 or reply[:2] != b"\x20\x02" or reply[3] != 0:
        raise OSError(5, "raw floor: unexpected reply %r" % reply)
    _read_acks(t, n)
    for data, n in chunks[1:]:
        t.write(data)
        _read_acks(t, n)
    t1 = time.ticks_us()
    t.write(b"\xe0\x00")
    t.close()
    return time.ticks_diff(t1, t0)


def flush(t, chunks):
    """On an open connection: each chunk in one write, then its PUBACKs: us."""
    t0 = time.ticks_us()
    for data, n in chunks:
        t.write(data)
        _read_acks(t, n)
    return time.ticks_diff(time.ticks_us(), t0)


def connected(ctx, host, port, connect):
    t = tls_socket(ctx, host, port)
    t.write(connect)
    if t.read(4)[3] != 0:
        raise OSError(5, "raw floor: CONNECT refused")
    return t


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
