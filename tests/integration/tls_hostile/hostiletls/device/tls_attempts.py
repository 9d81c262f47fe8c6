# Connection attempts of the node's own TLS and MQTT client, one per line of standard input,
# under MicroPython (the unix port, or the ESP8266 board emulator with the node frozen in).
#
# In:  one JSON object a line: {"host", "port", "tls": the tls section of config.json,
#      "dir": where its files are, "user", "password", "timeout"}
# Out: one line "RESULT <json>" an attempt: {"outcome": "connected" | "TLSError" | "OSError" |
#      "ValueError" | <other exception class>, "message", "errno", "ms": time taken}
import json
import sys
import time

from node.mqtt.client import MQTTClient
from node.tls import TLSError, make_context


def attempt(req):
    started = time.ticks_ms()
    out = {"outcome": "connected"}
    client = None
    try:
        ctx = make_context(req["tls"], req.get("dir", "."))
        client = MQTTClient("node-1", req["host"], port=req["port"], user=req["user"],
                            password=req["password"], ssl=ctx, timeout=req.get("timeout", 5),
                            keepalive=60)
        client.connect()
        client.disconnect()
    except TLSError as e:
        out = {"outcome": "TLSError", "message": str(e)}
    except OSError as e:
        out = {"outcome": "OSError", "message": str(e),
               "errno": e.args[0] if e.args and isinstance(e.args[0], int) else None}
    except Exception as e:
        out = {"outcome": type(e).__name__, "message": str(e)}
    out["ms"] = time.ticks_diff(time.ticks_ms(), started)
    return out


while True:
    line = sys.stdin.readline()
    if not line:
        break
    print("RESULT " + json.dumps(attempt(json.loads(line))))
