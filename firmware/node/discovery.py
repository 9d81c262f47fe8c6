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
# When they differ, announce() publishes the configs (retained), empties those of fields that
# went away (an empty retained message removes the entity; key "0" removes them all), and
# writes the file once the broker answered a PINGREQ sent after them (a broker handles a
# connection's packets in order, so it has them all). They go as QoS 0, written piece by piece
# (the length counted first): a config is the largest message of a wake, and on an ESP8266 the
# heap left beside the TLS connection has no block for it, nor for a copy kept for a resend. cmd/discovery deletes the file: the
# configs go again (after a broker lost its retained messages).
import json
from micropython import const

PREFIX = "homeassistant/sensor/"
_CHUNK = const(128)     # bytes of a config written at a time
# Availability: the status's state, with sleeping read as online (offline stays offline).
AVAILABILITY = (', "avty_t": "~/status", '
                '"avty_tpl": "{{value_json.state.replace(\'sleeping\',\'online\')}}", '
                '"dev": {"ids": [')


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


def _parts(node, field):
    """The discovery config of one field, as JSON text in pieces."""
    from node.app import VERSION
    q = json.dumps
    dev = node.cfg["device_id"]
    name, unit, device_class = describe(node.sensor, field)
    yield '{"~": '
    yield q(node.cfg["mqtt"]["topic_prefix"])
    yield ', "name": '
    yield q(name)
    yield ', "uniq_id": '
    yield q(dev + "_" + field)
    yield ', "stat_t": "~/readings", "val_tpl": "{{value_json.'
    yield field
    yield '}}", '
    if unit:
        yield '"unit_of_meas": %s, ' % q(unit)
    if device_class:
        yield '"dev_cla": %s, ' % q(device_class)
    yield '"stat_cla": "measurement", "exp_aft": %d' % expire_after(node.interval)
    yield AVAILABILITY
    yield q("mqtt-node_" + dev)
    yield '], "name": '
    yield q(dev)
    yield ', "mdl": '
    yield q("mqtt-node " + node.board.NAME)
    yield ', "sw": %s}}' % q(VERSION)


def _publish(c, topic, parts):
    """A retained QoS 0 PUBLISH of the pieces parts() gives, counted first, then written
    through a small buffer (a few TLS records, no block of the message's size). MemoryError
    when the heap has no room: before anything went out, or with the payload completed by
    spaces (the connection stays sound; the config is sent again by the next wake)."""
    from node.mqtt import packets
    n = 0
    for p in parts():
        n += len(memoryview(p))                 # UTF-8 bytes
    c._send(packets.publish(packets.check_topic(topic), n, 0, True, head=True))
    buf = bytearray(_CHUNK)
    used = sent = 0
    try:
        for p in parts():
            p = memoryview(p)
            while len(p):
                k = min(len(p), _CHUNK - used)
                buf[used:used + k] = p[:k]
                used += k
                p = p[k:]
                if used == _CHUNK:
                    c._send(buf)
                    sent += used
                    used = 0
    except MemoryError:
        left = n - sent                         # owed to the packet, `used` of it in buf
        for i in range(used, _CHUNK):
            buf[i] = 0x20
        while left:
            k = min(left, _CHUNK)
            c._send(buf if k == _CHUNK else memoryview(buf)[:k])
            left -= k
            for i in range(used):               # spaces only from here on
                buf[i] = 0x20
            used = 0
        raise
    if used:
        c._send(memoryview(buf)[:used])


def usable(field):
    # A name Home Assistant takes as an id in a discovery topic ([a-zA-Z0-9_-]) and that works
    # in the template as value_json.<field>: letters, digits and _, not starting with a digit.
    return bool(field) and not field[0].isdigit() and \
        all(c == "_" or "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" for c in field)


def announce(node, k):
    """Publish the configs for key k (retained), remove those of fields that went away, and
    keep k in flash once the broker answered after them. OSError when it did not."""
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
    try:
        for f in fields + gone:
            topic = "%s%s/%s/config" % (PREFIX, dev, f)
            if f in fields:
                _publish(c, topic, lambda: _parts(node, f))
            else:
                c.publish(topic, b"", True, 0)
    except MemoryError:
        # The next wake, with nothing to flush, has more heap.
        node.log("node: Home Assistant discovery: no room in this wake's heap, next wake")
        return
    from node.session import round_trip
    round_trip(node)
    if c._ping_at is not None:
        raise OSError("the broker did not answer after the discovery configs in time")
    import os
    with open(path + ".tmp", "w") as f:
        f.write("%s\n%s\n" % (k, " ".join(fields)))
    os.rename(path + ".tmp", path)
    node.log("node: Home Assistant discovery: %s%s" % (
        "announced " + ", ".join(fields) if fields else "off",
        "; removed " + ", ".join(gone) if gone else ""))
