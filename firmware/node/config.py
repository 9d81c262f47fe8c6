# The device config (config.json in the device bundle), written by `host_tools provision`.
# load() fills defaults and validates once; a bad value raises ValueError naming the key.
import json

FILE = "config.json"

# section -> {key: default}; a default of None means "required" unless listed in OPTIONAL.
DEFAULTS = {
    "mqtt": {
        "host": None,
        "port": 8883,
        "client_id": None,
        "user": None,
        "password": None,
        "keepalive": 60,
        "qos": 1,
        "clean_session": False,
        "topic_prefix": None,
        "window": 8,            # QoS 1 publishes in flight at once (an ESP8266's default: 4)
        "timeout": 10,          # seconds any wait on the broker may take
        "max_packet": 4096,     # incoming PUBLISHes above this are read past, never stored
        "early": 32,            # publishes sent with CONNECT, before CONNACK (brokers cap it)
    },
    "tls": {
        "mode": "ca",
        "ca": "ca.der",
        "pins": [],
        "cert": None,
        "key": None,
        "server_hostname": None,
    },
    "node": {
        "interval_s": 60,               # a reading every interval
        "stay_connected_below_s": 60,   # shorter intervals idle connected, longer deep-sleep
        "readings_per_wake": 1,
        "durable": False,               # True: every reading reaches flash before it is sent
        "rtc_batch": 8,                 # unsent readings that may wait in RTC memory (0: none)
        "buffer_bytes": 32768,          # flash given to the offline ring buffer
        "buffer_policy": "drop_oldest",
        "wifi_timeout_ms": 10000,
        "ntp_host": "pool.ntp.org",
        "ntp_port": 123,
        "stats_every_s": 3600,
        "watchdog_s": 0,                # 0: no watchdog
    },
    # The network a board joins; the unix board needs none.
    "wifi": {
        "ssid": None,
        "password": None,
    },
}
OPTIONAL = ("mqtt.user", "mqtt.password", "mqtt.client_id", "mqtt.topic_prefix",
            "tls.cert", "tls.key", "tls.server_hostname", "wifi.ssid", "wifi.password")
TLS_MODES = ("ca", "pin", "ca+pin", "insecure")
BOARDS = ("unix", "esp32", "esp8266")


def _fail(key, why):
    raise ValueError("config.json: %s %s; fix it with `host_tools provision`" % (key, why))


def _check_types(cfg):
    for section, defaults in DEFAULTS.items():
        sect = cfg[section]
        for key, default in defaults.items():
            val = sect[key]
            name = section + "." + key
            if val is None:
                if name not in OPTIONAL:
                    _fail(name, "is missing")
                continue
            if default is None or type(val) is type(default):
                continue
            if type(default) is float and type(val) is int:
                continue
            _fail(name, "must be %s, not %r" % (type(default).__name__, val))


def validate(raw):
    if not isinstance(raw, dict):
        _fail("(top level)", "must be a JSON object")
    device_id = raw.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        _fail("device_id", "is missing")
    cfg = {"device_id": device_id, "board": raw.get("board", "unix")}
    for section, defaults in DEFAULTS.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            _fail(section, "must be an object")
        for key in given:
            if key not in defaults:
                _fail(section + "." + key, "is not a known setting (a typo?)")
        sect = {}
        for key, default in defaults.items():
            sect[key] = given.get(key, default)
        cfg[section] = sect
    for key in raw:
        if key not in cfg:
            _fail(key, "is not a known section (a typo?)")
    _check_types(cfg)
    mqtt = cfg["mqtt"]
    if cfg["board"] == "esp8266" and "window" not in raw.get("mqtt", {}):
        mqtt["window"] = 4      # its packets in flight take RAM an ESP8266 does not have
    if not 0 < mqtt["port"] < 65536:
        _fail("mqtt.port", "must be 1-65535, not %r" % mqtt["port"])
    if mqtt["qos"] not in (0, 1):
        _fail("mqtt.qos", "must be 0 or 1, not %r" % mqtt["qos"])
    if mqtt["client_id"] is None:
        mqtt["client_id"] = device_id
    if mqtt["topic_prefix"] is None:
        mqtt["topic_prefix"] = "nodes/" + device_id
    if cfg["tls"]["mode"] not in TLS_MODES:
        _fail("tls.mode", "must be one of %s, not %r" % (", ".join(TLS_MODES), cfg["tls"]["mode"]))
    tls = cfg["tls"]
    for pin in tls["pins"]:
        if not isinstance(pin, str):
            _fail("tls.pins", "must hold SHA-256 fingerprints as hex strings, not %r" % (pin,))
    if tls["mode"] in ("pin", "ca+pin") and not tls["pins"]:
        _fail("tls.pins", "is empty, and tls.mode %r needs the broker's fingerprint" % tls["mode"])
    _check_node(cfg)
    if cfg["board"] not in BOARDS:
        _fail("board", "must be one of %s, not %r" % (", ".join(BOARDS), cfg["board"]))
    if cfg["board"] != "unix" and not cfg["wifi"]["ssid"]:
        _fail("wifi.ssid", "is missing (a %s board joins a Wi-Fi network)" % cfg["board"])
    return cfg


def _check_node(cfg):
    node, mqtt = cfg["node"], cfg["mqtt"]
    for key, low in (("interval_s", 1), ("readings_per_wake", 1), ("wifi_timeout_ms", 100),
                     ("stats_every_s", 1), ("buffer_bytes", 8192), ("stay_connected_below_s", 0),
                     ("rtc_batch", 0), ("watchdog_s", 0)):
        if node[key] < low:
            _fail("node." + key, "must be at least %d, not %r" % (low, node[key]))
    for key, low, high in (("window", 1, 64), ("timeout", 1, 600), ("max_packet", 64, 1 << 20),
                           ("early", 0, 40)):
        if not low <= mqtt[key] <= high:
            _fail("mqtt." + key, "must be %d-%d, not %r" % (low, high, mqtt[key]))
    if node["buffer_policy"] not in ("drop_oldest", "drop_newest"):
        _fail("node.buffer_policy", "must be drop_oldest or drop_newest, not %r" % node["buffer_policy"])


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
