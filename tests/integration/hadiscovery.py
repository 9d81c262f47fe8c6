"""Home Assistant's MQTT discovery schema for a sensor, as its documentation states it
(home-assistant.io: "MQTT" discovery with its abbreviations and the "~" base topic, "MQTT
Sensor", the sensor device classes and their units), written out here so that a test can check
what a node announces without running Home Assistant: expand(payload) is the config as Home
Assistant reads it, problems(topic, payload) lists what it would refuse or ignore.
"""

import json
import re

# <discovery_prefix>/<component>/[<node_id>/]<object_id>/config
TOPIC = re.compile(r"^homeassistant/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
                   r"(?P<object_id>[a-zA-Z0-9_-]+)/config$")

# The MQTT sensor's configuration variables and their types.
SENSOR_KEYS = {
    "availability": list, "availability_mode": str, "availability_template": str,
    "availability_topic": str, "default_entity_id": str, "device": dict, "device_class": str,
    "enabled_by_default": bool, "encoding": str, "entity_category": str,
    "entity_picture": str, "expire_after": int, "force_update": bool, "icon": str,
    "json_attributes_template": str, "json_attributes_topic": str,
    "last_reset_value_template": str, "name": str, "object_id": str, "options": list,
    "origin": dict, "payload_available": str, "payload_not_available": str, "platform": str,
    "qos": int, "state_class": str, "state_topic": str, "suggested_display_precision": int,
    "unique_id": str, "unit_of_measurement": str, "value_template": str,
}
DEVICE_KEYS = {
    "configuration_url": str, "connections": list, "hw_version": str, "identifiers": list,
    "manufacturer": str, "model": str, "model_id": str, "name": str, "serial_number": str,
    "suggested_area": str, "sw_version": str, "via_device": str,
}
# The documented abbreviations of the keys a sensor config may use, and of the device block's.
ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode",
    "avty_tpl": "availability_template", "avty_t": "availability_topic",
    "dev": "device", "dev_cla": "device_class", "en": "enabled_by_default", "e": "encoding",
    "ent_cat": "entity_category", "ent_pic": "entity_picture", "exp_aft": "expire_after",
    "frc_upd": "force_update", "ic": "icon", "json_attr_tpl": "json_attributes_template",
    "json_attr_t": "json_attributes_topic", "lrst_val_tpl": "last_reset_value_template",
    "obj_id": "object_id", "o": "origin", "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available", "p": "platform", "stat_cla": "state_class",
    "stat_t": "state_topic", "sug_dsp_prc": "suggested_display_precision",
    "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "cu": "configuration_url", "cns": "connections", "hw": "hw_version", "ids": "identifiers",
    "mf": "manufacturer", "mdl": "model", "mdl_id": "model_id", "sn": "serial_number",
    "sa": "suggested_area", "sw": "sw_version", "via_device": "via_device",
}
STATE_CLASSES = ("measurement", "measurement_angle", "total", "total_increasing")
# Device classes of the sensors a node announces, with the units Home Assistant accepts.
UNITS = {
    "temperature": ("°C", "°F", "K"),
    "humidity": ("%",),
    "pressure": ("cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"),
    "voltage": ("V", "mV", "µV", "kV", "MV"),
    "battery": ("%",),
    "signal_strength": ("dB", "dBm"),
}


def _topic_problem(value, what):
    if not isinstance(value, str) or not value or "+" in value or "#" in value:
        return [f"{what} must be a topic without wildcards, not {value!r}"]
    return []


def expand(payload: bytes) -> dict:
    """The config as Home Assistant reads it: abbreviations spelt out, and "~" (the base topic)
    put into every topic that starts or ends with it."""
    doc = json.loads(payload)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    doc = {ABBREVIATIONS.get(k, k): v for k, v in doc.items()}
    if isinstance(doc.get("device"), dict):
        doc["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in doc["device"].items()}
    base = doc.pop("~", None)
    if isinstance(base, str):
        for key, value in doc.items():
            if key.endswith("_topic") and isinstance(value, str):
                if value.startswith("~"):
                    doc[key] = base + value[1:]
                elif value.endswith("~"):
                    doc[key] = value[:-1] + base
    return doc


def problems(topic: str, payload: bytes) -> list:
    m = TOPIC.match(topic)
    if not m:
        return [f"{topic} is not a discovery topic (ids take [a-zA-Z0-9_-] only)"]
    if m["component"] != "sensor":
        return [f"{topic}: component {m['component']}, not sensor"]
    try:
        doc = expand(payload)
    except ValueError as exc:
        return [f"{topic}: not a JSON object ({exc})"]
    out = []
    for key, value in doc.items():
        want = SENSOR_KEYS.get(key)
        if want is None:
            out.append(f"unknown key {key}")
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            out.append(f"{key} must be {want.__name__}, not {value!r}")
    if out:
        return out
    out += _topic_problem(doc.get("state_topic"), "state_topic")
    if "availability" in doc and "availability_topic" in doc:
        out.append("availability and availability_topic exclude each other")
    if "availability_topic" in doc:
        out += _topic_problem(doc["availability_topic"], "availability_topic")
    if "expire_after" in doc and doc["expire_after"] <= 0:
        out.append("expire_after must be a positive number of seconds")
    if doc.get("qos", 0) not in (0, 1, 2):
        out.append("qos must be 0, 1 or 2")
    if "state_class" in doc and doc["state_class"] not in STATE_CLASSES:
        out.append(f"state_class {doc['state_class']!r} is none of {STATE_CLASSES}")
    cls = doc.get("device_class")
    if cls is not None:
        if cls not in UNITS:
            out.append(f"device_class {cls!r} is not a sensor device class this check knows")
        elif doc.get("unit_of_measurement") not in UNITS[cls]:
            out.append(f"unit {doc.get('unit_of_measurement')!r} is not one of {cls}'s {UNITS[cls]}")
    device = doc.get("device")
    if device is not None:
        if "unique_id" not in doc:
            out.append("a device block needs the entity's unique_id")
        for key, value in device.items():
            if key not in DEVICE_KEYS:
                out.append(f"unknown device key {key}")
            elif not isinstance(value, DEVICE_KEYS[key]):
                out.append(f"device {key} must be {DEVICE_KEYS[key].__name__}")
        if not device.get("identifiers") and not device.get("connections"):
            out.append("a device block needs identifiers or connections")
    for key in ("value_template", "availability_template"):
        text = doc.get(key)
        if text is not None and text.count("{{") != text.count("}}"):
            out.append(f"{key} is not a closed template: {text!r}")
    return out


def template_value(template: str, payload: bytes):
    """What `{{value_json.FIELD}}` gives for a JSON payload (the one template form a node writes
    for its readings)."""
    m = re.fullmatch(r"\{\{ ?value_json\.(\w+) ?\}\}", template)
    assert m, template
    return json.loads(payload)[m[1]]


def availability(template: str, payload: bytes) -> str:
    """What the node's availability template gives for a status payload: Jinja's
    `value_json.state.replace('sleeping','online')`."""
    m = re.fullmatch(r"\{\{ ?value_json\.state\.replace\('(\w+)', ?'(\w+)'\) ?\}\}", template)
    assert m, template
    return json.loads(payload)["state"].replace(m[1], m[2])
