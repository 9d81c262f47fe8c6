# Commands for the node arrive on <topic_prefix>/cmd/<name> (QoS 1, so the persistent
# session keeps them while the node sleeps). Each gets an answer on <topic_prefix>/reply.
# Imported only by a wake that received one.
#   cmd/stats      publish the stats now
#   cmd/interval   payload: seconds between readings (1..86400); kept in flash
#   cmd/ping       answers "pong"
#   cmd/discovery  the Home Assistant discovery configs go again once the readings are next
#                  delivered (node.discovery), e.g. after the broker lost its retained messages
import json


def handle(node, name, msg):
    """Carry out one command: (ok, the reply as JSON text). Never raises: whatever the
    payload, the answer says what was wrong. msg is the payload, or its size (an int) when it
    was over mqtt.max_packet and read past."""
    try:
        if isinstance(msg, int):
            ok, detail = False, ("a message of %d bytes is over mqtt.max_packet (%d): not run; "
                                 "send it smaller" % (msg, node.cfg["mqtt"]["max_packet"]))
        else:
            ok, detail = _run(node, name, msg.decode() if isinstance(msg, bytes) else msg)
    except UnicodeError:
        ok, detail = False, "the payload is not UTF-8 text"
    except Exception as e:      # one bad command must not stop the wake
        ok, detail = False, "%s: %s" % (type(e).__name__, e)
    try:
        return ok, json.dumps({"cmd": name, "ok": ok, "detail": detail})
    except (TypeError, ValueError):     # a name no JSON takes (not text)
        return False, json.dumps({"cmd": repr(name), "ok": False, "detail": "unreadable"})


def _run(node, name, text):
    if name == "ping":
        return True, "pong"
    if name == "stats":
        node.stats_due = True
        return True, None
    if name == "interval":
        try:
            seconds = int(text.strip())
        except (ValueError, AttributeError):
            seconds = 0
        if not 1 <= seconds <= 86400:
            return False, "give whole seconds, 1 to 86400"
        node.settings["interval_s"] = seconds
        _save(node.settings_path, node.settings)
        node.interval = seconds
        return True, seconds
    if name == "discovery":
        if not node.cfg["mqtt"]["discovery"]:
            return False, ("mqtt.discovery is off in config.json: turn it on with `host_tools "
                           "provision DEVICE --discovery`")
        import os
        try:
            os.remove(node.data_dir + "/discovery")
        except OSError:
            pass            # nothing announced yet
        return True, "the discovery configs go out again once the readings are delivered"
    return False, "unknown command: use stats, interval, ping or discovery"


def _save(path, settings):
    import os
    with open(path + ".tmp", "w") as f:
        json.dump(settings, f)
    os.rename(path + ".tmp", path)
