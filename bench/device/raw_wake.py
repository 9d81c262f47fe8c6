# The raw floor of a whole wake, for bench/bench_node.py: a script with no library that does
# what a node's wake must do on the network and nothing else (TLS with the CA checked, CONNECT
# with the first window of readings, the rest a window at a time, DISCONNECT), to compare the
# firmware's time, heap and bytes on the wire with. MicroPython; run in a folder with ca.der:
#   micropython raw_wake.py <host> <port> <user> <password> <readings> <window>
# prints "RAW <us from script start to DISCONNECT>"
import time

_T0 = time.ticks_us()
import ssl  # noqa: E402
import sys  # noqa: E402

import mqtt_raw  # noqa: E402

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count, window = int(sys.argv[5]), int(sys.argv[6])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_REQUIRED
with open("ca.der", "rb") as f:
    ctx.load_verify_locations(cadata=f.read())
connect = mqtt_raw.connect_bytes(b"node-1", user.encode(), password.encode(), 60, False)
chunks = []
for i in range(0, count, window):
    data = b""
    for n in range(i + 1, min(count, i + window) + 1):
        # the node's payload for a reading, in shape and size (node.reading)
        body = b'{"device": "node-1", "seq": %d, "t": %d, "temp_c": 21.5, "rh": 45.3}' % (n, 1767225600 + n)
        data += mqtt_raw.publish_bytes(b"nodes/node-1/readings", body, 1, n)
    chunks.append((data, min(count, i + window) - i))
mqtt_raw.wake(ctx, host, port, connect, chunks)
print("RAW %d" % time.ticks_diff(time.ticks_us(), _T0))
