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
