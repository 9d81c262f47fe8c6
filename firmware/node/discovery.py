# Home Assistant MQTT discovery: one retained config per sensor field under
#   homeassistant/sensor/<device>/<field>/config
# so that the node appears in Home Assistant (or any consumer of the same convention) without a
# line of YAML. Each config names the readings topic and the field's value in it, its unit and
# device class, the device (model, firmware version), availability from the status topic
# (online and sleeping count as available, the last will's offline does not) and expire_after
# from the interval, so that a node that stops waking shows as unavailable. The keys are Home
# Assistant's documented abbreviations ("~" is the node's topic prefix): fewer bytes to build
# in a small heap and to send.
#
# Imported by node.app only when what it announces changed. After the readings are delivered,
# app computes a key of what the configs depend on (firmware version, device, interval, readings
# topic, the sensor's fields: a CRC-32; "0" with mqtt.discovery false) and compares it with the
# one kept in flash in the file "discovery" beside settings.json:
#   line 1: the key of what was announced;  line 2: the fields announced, separated by spaces
# When they differ, announce() publishes the configs (QoS 1, retained), empties those of fields
# that went away (an empty retained message removes the entity; key "0" removes them all), and
# writes the file once the broker acknowledged every one. cmd/discovery deletes the file: the
# configs go again (after a broker lost its retained messages).
import json

PREFIX = "homeassistant/sensor/"
# Availability: the status's state, with sleeping read as online (offline stays offline).
CONFIG = ('{"~": %s, "name": %s, "uniq_id": %s, "stat_t": "~/readings", '
          '"val_tpl": "{{value_json.%s}}", %s"stat_cla": "measurement", "exp_aft": %d, '
          '"avty_t": "~/status", '
          '"avty_tpl": "{{value_json.state.replace(\'sleeping\',\'online\')}}", '
          '"dev": {"ids": [%s], "name": %s, "mdl": %s, "sw": %s}}')


def describe(sensor, field):
    """(name, unit or None, device class or None) of a field: the sensor's own DISCOVERY
    table ({field: (name, unit, device class)}) first, then the fields the node knows."""
    own = getattr(sensor, "DISCOVERY", None)
    if own and field in own:
        return own[field]
    if field == "temp_c":
        return "Temperature", "\u00b0C", "temperature"
    if field == "rh":
        return "Humidity", "%", "humidity"
    if field == "pressure_hpa":
        return "Pressure", "hPa", "pressure"
    if field == "chip":
        import sys
        if sys.platform != "esp8266":       # the ESP8266 reports its ADC, no temperature
            return "Chip temperature", "\u00b0C", "temperature"
    return field, None, None


def expire_after(interval):
    # A node that misses one wake stays available; one that misses two does not.
    return 2 * interval + 60


def config(node, field):
    """The discovery config of one field, as JSON text."""
    from node.app import VERSION
    q = json.dumps
    dev = node.cfg["device_id"]
    name, unit, device_class = describe(node.sensor, field)
    extra = ""
    if unit:
        extra = '"unit_of_meas": %s, ' % q(unit)
    if device_class:
        extra += '"dev_cla": %s, ' % q(device_class)
    return CONFIG % (q(node.cfg["mqtt"]["topic_prefix"]), q(name), q(dev + "_" + field), field,
                     extra, expire_after(node.interval), q("mqtt-node_" + dev), q(dev),
                     q("mqtt-node " + node.board.NAME), q(VERSION))


def usable(field):
    # A name Home Assistant takes as an id in a discovery topic ([a-zA-Z0-9_-]) and that works
    # in the template as value_json.<field>: letters, digits and _, not starting with a digit.
    return bool(field) and not field[0].isdigit() and \
        all(c == "_" or "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" for c in field)


def announce(node, k):
    """Publish the configs for key k (retained, QoS 1), remove those of fields that went away,
    and keep k in flash once the broker acknowledged them all. OSError when it did not."""
    c = node.client
    path = node.data_dir + "/discovery"
    dev = node.cfg["device_id"]
    fields = [f for f in node.sensor.FIELDS if usable(f)] if k != "0" else []
    try:
        with open(path) as f:
            f.readline()
            gone = [g for g in f.readline().split() if g not in fields]
    except OSError:
        gone = []
    # Their packet ids are no readings': the ledger must not count these acknowledgements.
    on_ack, c.on_ack = c.on_ack, None
    room = True
    try:
        for f in fields + gone:
            try:
                c.publish("%s%s/%s/config" % (PREFIX, dev, f),
                          config(node, f) if f in fields else b"", True, 1)
            except MemoryError:
                room = False        # the next wake, with nothing to flush, has more heap
                break
        acked = c.wait_acks(node.cfg["mqtt"]["timeout"])
    finally:
        c.on_ack = on_ack
    if not acked:
        raise OSError("the broker did not acknowledge the discovery configs in time")
    if not room:
        node.log("node: Home Assistant discovery: no room in this wake's heap, next wake")
        return
    import os
    with open(path + ".tmp", "w") as f:
        f.write("%s\n%s\n" % (k, " ".join(fields)))
    os.rename(path + ".tmp", path)
    node.log("node: Home Assistant discovery: %s%s" % (
        "announced " + ", ".join(fields) if fields else "off",
        "; removed " + ", ".join(gone) if gone else ""))
