# The MQTT client alone, for `make bench`: TLS (CA mode), CONNECT, one QoS 1 publish,
# DISCONNECT, with node.mqtt.client or umqtt.robust, both as .mpy on the unix port:
#   micropython -m client_wake node|umqtt HOST PORT USER PASSWORD CA.der
# Prints "CLIENT OK" at the end.
import sys

try:
    import tls
except ImportError:
    import ssl as tls

which, host, port, user, password, ca = sys.argv[1:7]
ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = tls.CERT_REQUIRED
with open(ca, "rb") as f:
    ctx.load_verify_locations(f.read())
if which == "umqtt":
    from umqtt.robust import MQTTClient
else:
    from node.mqtt.client import MQTTClient
c = MQTTClient(user, host, int(port), user, password, ssl=ctx)
c.connect()
c.publish(b"nodes/%s/readings" % user, b'{"seq": 1, "t": 1800000000}', qos=1)
c.disconnect()
print("CLIENT OK")
