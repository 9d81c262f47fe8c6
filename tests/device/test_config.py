# Device config validation, under MicroPython.
import json

from mptest import eq, raises
from node import config

BASE = {"device_id": "node-1", "mqtt": {"host": "broker.local"}}


def _with(section, key, value):
    raw = json.loads(json.dumps(BASE))
    raw.setdefault(section, {})[key] = value
    return raw


def test_defaults_follow_the_usual_mosquitto_tls_guides():
    cfg = config.validate(BASE)
    eq(cfg["mqtt"]["port"], 8883, "port")
    eq(cfg["mqtt"]["keepalive"], 60, "keepalive")
    eq(cfg["mqtt"]["qos"], 1, "qos")
    eq(cfg["mqtt"]["clean_session"], False, "clean_session")
    eq(cfg["mqtt"]["client_id"], "node-1", "client_id")
    eq(cfg["mqtt"]["topic_prefix"], "nodes/node-1", "topic_prefix")
    eq(cfg["tls"]["mode"], "ca", "tls mode")


def test_typo_in_a_key_names_the_key():
    err = raises(ValueError, config.validate, _with("mqtt", "keepalve", 30))
    assert "mqtt.keepalve" in str(err) and "typo" in str(err), str(err)


def test_unknown_section_is_refused():
    raw = dict(BASE)
    raw["mqt"] = {}
    err = raises(ValueError, config.validate, raw)
    assert "mqt" in str(err), str(err)


def test_wrong_type_names_key_and_value():
    err = raises(ValueError, config.validate, _with("mqtt", "port", "8883"))
    assert "mqtt.port" in str(err) and "int" in str(err), str(err)


def test_bool_is_not_an_int():
    err = raises(ValueError, config.validate, _with("mqtt", "qos", True))
    assert "mqtt.qos" in str(err), str(err)


def test_out_of_range_values():
    assert "mqtt.port" in str(raises(ValueError, config.validate, _with("mqtt", "port", 70000)))
    assert "mqtt.qos" in str(raises(ValueError, config.validate, _with("mqtt", "qos", 2)))
    assert "tls.mode" in str(raises(ValueError, config.validate, _with("tls", "mode", "none")))


def test_missing_host_and_device_id():
    assert "mqtt.host" in str(raises(ValueError, config.validate, {"device_id": "x"}))
    assert "device_id" in str(raises(ValueError, config.validate, {"mqtt": {"host": "h"}}))


def test_load_reports_missing_and_malformed_files():
    err = raises(ValueError, config.load, ".")
    assert "provision" in str(err), str(err)
    with open("config.json", "w") as f:
        f.write("{not json")
    err = raises(ValueError, config.load, ".")
    assert "not valid JSON" in str(err), str(err)
    with open("config.json", "w") as f:
        f.write(json.dumps(BASE))
    eq(config.load(".")["device_id"], "node-1", "loaded id")


def _says(raw, *words):
    err = str(raises(ValueError, config.validate, raw))
    for w in words:
        assert w in err, (w, err)
    assert "\n" not in err, "named in one line: %r" % err
    return err


def test_every_key_is_checked_for_type_and_range():
    _says(_with("mqtt", "password", 123), "mqtt.password", "string", "123")
    _says(_with("mqtt", "user", ""), "mqtt.user", "non-empty")
    _says(_with("mqtt", "window", 0), "mqtt.window", "1-64")
    _says(_with("mqtt", "window", 1000), "mqtt.window", "1-64")
    _says(_with("mqtt", "keepalive", 70000), "mqtt.keepalive", "0-65535")
    _says(_with("mqtt", "early", 41), "mqtt.early", "0-40")
    _says(_with("mqtt", "topic_prefix", "nodes/+"), "mqtt.topic_prefix", "wildcard")
    _says(_with("mqtt", "topic_prefix", "nodes/#"), "mqtt.topic_prefix", "wildcard")
    _says(_with("node", "interval_s", 0), "node.interval_s")
    _says(_with("node", "stats_every_s", -1), "node.stats_every_s")
    _says(_with("tls", "pins", ["ab" * 31]), "tls.pins[0]", "64 hex digits")
    _says(_with("tls", "pins", "ab" * 32), "tls.pins", "list")
    raw = {"device_id": "node/1", "mqtt": {"host": "h"}}
    _says(raw, "device_id", "/")


def test_values_that_do_not_go_together():
    raw = _with("mqtt", "keepalive", 15)
    _says(raw, "mqtt.keepalive", "twice mqtt.timeout")
    eq(config.validate(_with("mqtt", "keepalive", 0))["mqtt"]["keepalive"], 0, "0: no keepalive")
    _says(_with("mqtt", "password", "pw"), "mqtt.password", "mqtt.user")
    _says(_with("tls", "pins", ["ab" * 32]), "tls.pins", "tls.mode")
    raw = _with("tls", "pins", ["ab" * 32])
    raw["tls"]["mode"] = "insecure"
    _says(raw, "tls.mode", "insecure")
    _says(_with("tls", "mode", "pin"), "tls.pins", "empty")
    _says(_with("tls", "cert", "c.der"), "tls.cert", "tls.key")


def test_an_open_wifi_network_and_board_defaults():
    raw = _with("wifi", "ssid", "cafe")
    raw["wifi"]["password"] = ""
    raw["board"] = "esp8266"
    cfg = config.validate(raw)
    eq(cfg["wifi"]["password"], "", "an open network")
    eq(cfg["mqtt"]["window"], 2, "ESP8266's default window")
    raw["mqtt"]["window"] = 6
    eq(config.validate(raw)["mqtt"]["window"], 6, "a window given is kept")
    del raw["wifi"]
    _says(raw, "wifi.ssid")


def _hosts(hosts, **mqtt):
    raw = {"device_id": "node-1", "mqtt": dict(mqtt, hosts=hosts)}
    return raw


def test_a_list_of_brokers_is_typed_and_defaults_follow_the_single_broker():
    cfg = config.validate(_hosts([{"host": "b1.lan"}, {"host": "10.0.0.2", "port": 8884,
                                                        "name": "b2.lan"}], port=9883))
    eq(cfg["mqtt"]["hosts"], [("b1.lan", 9883, "b1.lan"), ("10.0.0.2", 8884, "b2.lan")], "hosts")
    eq((cfg["mqtt"]["host"], cfg["mqtt"]["port"]), ("b1.lan", 9883), "the first is mqtt.host")
    raw = _hosts([{"host": "10.0.0.1"}])
    raw["tls"] = {"server_hostname": "broker.lan"}
    eq(config.validate(raw)["mqtt"]["hosts"], [("10.0.0.1", 8883, "broker.lan")],
       "tls.server_hostname is the name an entry without one checks")
    eq(config.validate(BASE)["mqtt"]["hosts"], None, "a single mqtt.host stays as it was")


def test_a_bad_broker_entry_is_named_in_one_line():
    _says(_hosts([{"host": "b1"}, {"host": "b2", "port": 0}]), "mqtt.hosts[1].port", "1-65535")
    _says(_hosts([{"host": "b1"}, "b2:8883"]), "mqtt.hosts[1]", "\"host\": NAME", "'b2:8883'")
    _says(_hosts([{"host": "b1", "nmae": "x"}]), "mqtt.hosts[0]", "the name its certificate")
    _says(_hosts([{"host": "b1", "name": ""}]), "mqtt.hosts[0].name", "non-empty string")
    _says(_hosts([{"host": ""}]), "mqtt.hosts[0]")
    _says(_hosts([]), "mqtt.hosts", "list of 1-8")
    _says(_hosts({"host": "b1"}), "mqtt.hosts", "list of 1-8")
    _says(_hosts([{"host": "b1"}], host="b0"), "mqtt.host", "both", "keep one")
    _says({"device_id": "x", "mqtt": {}}, "mqtt.host is missing", "mqtt.hosts")
