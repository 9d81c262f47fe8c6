# The device config (config.json in the device bundle), written by `host_tools provision`.
# load() fills in defaults and checks every key once, its type and its range; a bad value
# raises ValueError naming the key and what it may be (the node then sleeps an hour rather
# than retry a config that cannot work). Imported once per wake and unloaded after (node.app).
# Runs on CPython too: `host_tools provision` checks a bundle with these same rules.
import json

FILE = "config.json"

# section -> key -> (default, kind[, low, high]). kind: "str" (not empty; a default of None:
# may be left out), "text" (may be empty), "int" within low..high, "bool", "topic" (a topic
# prefix: no wildcard, no NUL), "pins" (SHA-256 fingerprints), "hosts" (broker hosts),
# "ifconfig" (four IPv4 addresses), or a tuple of the values allowed.
SCHEMA = {
    "mqtt": {
        "host": (None, "str"),           # one broker; or else:
        # several, tried in order (node.app): [{"host", "port" (mqtt.port), "name" (the name its
        # certificate carries: tls.server_hostname, or host)}]
        "hosts": (None, "hosts"),
        "port": (8883, "int", 1, 65535),
        "client_id": (None, "str"),
        "user": (None, "str"),
        "password": (None, "str"),
        "keepalive": (60, "int", 0, 65535),
        "qos": (1, "int", 0, 1),
        "clean_session": (False, "bool"),
        "topic_prefix": (None, "topic"),
        "window": (8, "int", 1, 64),      # QoS 1 publishes in flight at once (ESP8266: 2)
        "timeout": (10, "int", 1, 600),   # seconds any wait on the broker may take
        "max_packet": (4096, "int", 64, 1 << 20),  # incoming PUBLISHes above: read past
        # publishes sent with CONNECT, before CONNACK: brokers refuse more (aedes over 42)
        "early": (32, "int", 0, 40),
        # Home Assistant MQTT discovery: retained configs under homeassistant/sensor/<device_id>/
        "discovery": (True, "bool"),
    },
    "tls": {
        "mode": ("ca", ("ca", "pin", "ca+pin", "insecure")),
        "ca": ("ca.der", "str"),
        "pins": ([], "pins"),
        "cert": (None, "str"),
        "key": (None, "str"),
        "server_hostname": (None, "str"),
        # the whole handshake's deadline; what axTLS (pin mode) is given of a Certificate
        # message (None: 1 certificate on axTLS, which checks no chain, 4 on mbedtls)
        "handshake_s": (15, "int", 1, 120),
        "max_certs": (None, "int", 1, 8),
        "max_cert_bytes": (4096, "int", 512, 16384),
    },
    "node": {
        "interval_s": (60, "int", 1, 7 * 86400),            # a reading every interval
        "stay_connected_below_s": (60, "int", 0, 86400),    # shorter: idle connected
        "readings_per_wake": (1, "int", 1, 100),
        "durable": (False, "bool"),         # every reading reaches flash before it is sent
        "rtc_batch": (8, "int", 0, 64),     # unsent readings that may wait in RTC memory
        "buffer_bytes": (32768, "int", 8192, 1 << 24),  # flash for the offline ring buffer
        "buffer_policy": ("drop_oldest", ("drop_oldest", "drop_newest")),
        "wifi_timeout_ms": (10000, "int", 100, 600000),
        "ntp_host": ("pool.ntp.org", "str"),
        "ntp_port": (123, "int", 1, 65535),
        "stats_every_s": (3600, "int", 0, 365 * 86400),   # 0: only on cmd/stats
        "watchdog_s": (0, "int", 0, 3600),  # 0: no watchdog
        # a wake's time online (TLS, MQTT) before it gives up and sleeps on its backoff
        "online_s": (120, "int", 10, 3600),
    },
    # The network a board joins (a password of "" or none: an open network); unix needs none.
    "wifi": {
        "ssid": (None, "str"),
        "password": (None, "text"),
        # a fixed IP configuration instead of DHCP: [address, mask, gateway, DNS server]
        "static": (None, "ifconfig"),
        # the DHCP lease time the network gives: a wake reuses a lease's IP configuration
        # during its first half and asks DHCP again after (dnsmasq's default is 1 h)
        "lease_s": (3600, "int", 120, 30 * 86400),
    },
}
BOARDS = ("unix", "esp32", "esp8266")


def _fail(key, why):
    raise ValueError("config.json: %s %s; fix it with `host_tools provision`" % (key, why))


def _ipv4(text):
    parts = text.split(".") if isinstance(text, str) else ()
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def _check(name, val, spec):
    kind = spec[1]
    if isinstance(kind, tuple):
        if val not in kind:
            _fail(name, "must be one of %s, not %r" % (", ".join(kind), val))
    elif kind == "bool":
        if val is not True and val is not False:
            _fail(name, "must be true or false, not %r" % (val,))
    elif kind == "int":
        # bool is an int in Python: true is no port number
        if not isinstance(val, int) or isinstance(val, bool):
            _fail(name, "must be a whole number (int), not %r" % (val,))
        if not spec[2] <= val <= spec[3]:
            _fail(name, "must be %d-%d, not %r" % (spec[2], spec[3], val))
    elif kind == "pins":
        if not isinstance(val, list):
            _fail(name, "must be a list of SHA-256 fingerprints, not %r" % (val,))
        for i, pin in enumerate(val):
            if not _pin_ok(pin):
                _fail("%s[%d]" % (name, i), "must be a certificate's SHA-256 fingerprint (64 "
                      "hex digits) or a public key pin (sha256// and 44 base64 characters), "
                      "not %r" % (pin,))
    elif kind == "hosts":
        if not isinstance(val, list) or not val or len(val) > 8:
            _fail(name, "must be a list of 1-8 brokers, not %r" % (val,))
        for i, entry in enumerate(val):
            _host(entry, "%s[%d]" % (name, i))
    elif kind == "ifconfig":
        if not (isinstance(val, list) and len(val) == 4 and all(_ipv4(a) for a in val)):
            _fail(name, "must be [address, mask, gateway, DNS server], four IPv4 addresses "
                  "like \"192.168.1.50\", not %r" % (val,))
    elif not isinstance(val, str) or not (val or kind == "text"):
        _fail(name, "must be a%s string, not %r" % ("" if kind == "text" else " non-empty", val))
    elif kind == "topic" and ("+" in val or "#" in val or "\x00" in val or val.endswith("/")):
        _fail(name, "must be a plain topic (no wildcard + or #, no trailing /), not %r" % val)


def _pin_ok(pin):
    if not isinstance(pin, str):
        return False
    if pin.startswith("sha256//"):
        b64 = pin[8:]
        return len(b64) == 44 and b64.endswith("=") and all(
            c.isalpha() or c.isdigit() or c in "+/" for c in b64[:43])
    text = pin.replace(":", "").lower()
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _host(entry, name):
    if not (isinstance(entry, dict) and isinstance(entry.get("host"), str) and entry["host"]
            and all(k in ("host", "port", "name") for k in entry)):
        _fail(name, "must be {\"host\": NAME, \"port\": 1-65535, \"name\": the name its "
              "certificate carries} (port and name may be left out), not %r" % (entry,))
    for key, spec in (("port", (0, "int", 1, 65535)), ("name", (0, "str"))):
        if key in entry:
            _check(name + "." + key, entry[key], spec)


def validate(raw):
    if not isinstance(raw, dict):
        _fail("(top level)", "must be a JSON object")
    device_id = raw.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        _fail("device_id", "is missing")
    if "+" in device_id or "#" in device_id or "/" in device_id or "\x00" in device_id:
        _fail("device_id", "must be a name without / + # (it is part of every topic), not %r"
              % device_id)
    board = raw.get("board", "unix")
    if board not in BOARDS:
        _fail("board", "must be one of %s, not %r" % (", ".join(BOARDS), board))
    cfg = {"device_id": device_id, "board": board}
    for key in raw:
        if key not in SCHEMA and key not in cfg:
            _fail(key, "is not a known section (a typo?)")
    for section, keys in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            _fail(section, "must be an object")
        for key in given:
            if key not in keys:
                _fail(section + "." + key, "is not a known setting (a typo?)")
        sect = cfg[section] = {}
        for key, spec in keys.items():
            name = section + "." + key
            val = given.get(key)
            if val is None:
                val = spec[0]
            if val is not None:
                _check(name, val, spec)
            sect[key] = val
    _relations(cfg, raw)
    return cfg


def _relations(cfg, raw):
    # What no single key says: values that do not go together, and defaults that follow
    # from others.
    mqtt, tls, node = cfg["mqtt"], cfg["tls"], cfg["node"]
    given_tls = raw.get("tls", {})
    hosts = mqtt["hosts"]
    if bool(hosts) == bool(mqtt["host"]):
        _fail("mqtt.host", "is missing (or mqtt.hosts, a list of brokers)" if not hosts else
              "and mqtt.hosts are both given: keep one (a single broker is mqtt.host)")
    if hosts:
        # (host, port, the name its certificate carries); the first is also mqtt.host/port
        # for what speaks to one broker (the self test).
        mqtt["hosts"] = [(h["host"], h.get("port", mqtt["port"]),
                          h.get("name") or tls["server_hostname"] or h["host"]) for h in hosts]
        mqtt["host"], mqtt["port"] = mqtt["hosts"][0][:2]
    if cfg["board"] == "esp8266" and "window" not in raw.get("mqtt", {}):
        mqtt["window"] = 2      # its packets in flight take RAM an ESP8266 does not have
    if mqtt["client_id"] is None:
        mqtt["client_id"] = cfg["device_id"]
    if mqtt["topic_prefix"] is None:
        mqtt["topic_prefix"] = "nodes/" + cfg["device_id"]
    if mqtt["password"] is not None and not mqtt["user"]:
        _fail("mqtt.password", "is given without mqtt.user: MQTT sends a password only with "
              "a user name")
    if mqtt["keepalive"] and mqtt["keepalive"] < 2 * mqtt["timeout"]:
        _fail("mqtt.keepalive", "%d s is below twice mqtt.timeout (%d s): the broker would "
              "drop the node while it waits for an answer" % (mqtt["keepalive"], mqtt["timeout"]))
    if tls["pins"] and "mode" not in given_tls:
        _fail("tls.pins", "are given but tls.mode is not: say \"pin\" or \"ca+pin\" (without a "
              "mode the pins would not be checked)")
    if tls["pins"] and tls["mode"] == "insecure":
        _fail("tls.mode", "is \"insecure\" while tls.pins are given: \"insecure\" checks "
              "nothing; use \"pin\"")
    if tls["mode"] in ("pin", "ca+pin") and not tls["pins"]:
        _fail("tls.pins", "is empty, and tls.mode %r needs the broker's fingerprint" % tls["mode"])
    if bool(tls["cert"]) != bool(tls["key"]):
        _fail("tls.cert", "and tls.key go together (mutual TLS): give both or neither")
    if cfg["board"] != "unix" and not cfg["wifi"]["ssid"]:
        _fail("wifi.ssid", "is missing (a %s board joins a Wi-Fi network)" % cfg["board"])
    if node["rtc_batch"] and node["durable"]:
        node["rtc_batch"] = 0   # durable: every reading goes to flash as it is taken


def load(base_dir):
    path = base_dir + "/" + FILE
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError:
        raise ValueError("no %s in %s: provision the device with `host_tools provision`" % (FILE, base_dir))
    except ValueError:
        raise ValueError("%s is not valid JSON: provision the device again" % path)
    return validate(raw)
