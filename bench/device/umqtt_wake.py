# The reference wake for `make bench`: umqtt.robust (micropython-lib) doing what a sensor node
# does at the least, TLS, CONNECT, one QoS 1 publish, DISCONNECT, in the same interpreter as
# the node. Frozen into the board emulators as umqtt itself is; `micropython -m umqtt_wake`.
#   env: BENCH_HOST, BENCH_PORT, BENCH_USER, BENCH_PASSWORD; BENCH_CA (a DER file: CA mode and
#        the name checked, as mbedtls can) or none (CERT_NONE, all axTLS can do)
#        BENCH_PROBE_COLLECT=1: print "PROBE <phase> <in use> live <after gc.collect()>"
# Prints "UMQTT OK" at the end.
import gc
import os
import sys

_COLLECT = os.getenv("BENCH_PROBE_COLLECT") == "1"
gc.collect()
_BASE = gc.mem_alloc()


def mark(name):
    used = gc.mem_alloc() - _BASE
    if _COLLECT:
        gc.collect()
        sys.stderr.write("PROBE %s %d live %d\n" % (name, used, gc.mem_alloc() - _BASE))


try:
    import tls
except ImportError:
    import ssl as tls
from umqtt.robust import MQTTClient  # noqa: E402

mark("imports")
ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
ca = os.getenv("BENCH_CA")
if ca:
    ctx.verify_mode = tls.CERT_REQUIRED
    with open(ca, "rb") as f:
        ctx.load_verify_locations(f.read())
else:
    ctx.verify_mode = tls.CERT_NONE
host = os.getenv("BENCH_HOST")
c = MQTTClient(os.getenv("BENCH_USER"), host, int(os.getenv("BENCH_PORT")),
               os.getenv("BENCH_USER"), os.getenv("BENCH_PASSWORD"), ssl=ctx)
c.connect()
mark("connect")
c.publish(b"nodes/%s/readings" % os.getenv("BENCH_USER"), b'{"seq": 1, "t": 1800000000}', qos=1)
mark("publish")
c.disconnect()
mark("disconnect")
print("UMQTT OK")
