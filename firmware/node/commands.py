# Commands for the node arrive on <topic_prefix>/cmd/<name> (QoS 1, so the persistent
# session keeps them while the node sleeps). Each gets an answer on <topic_prefix>/reply.
#   cmd/stats      publish the stats now
#   cmd/interval   payload: seconds between readings (1..86400); kept in flash
#   cmd/ping       answers "pong"
import json

SETTINGS = "settings.json"


def load_settings(data_dir):
    try:
        with open(data_dir + "/" + SETTINGS) as f:
            got = json.load(f)
        return got if isinstance(got, dict) else {}
    except (OSError, ValueError):
        return {}


def save_settings(data_dir, settings):
    import os
    tmp = data_dir + "/" + SETTINGS + ".tmp"
    with open(tmp, "w") as f:
        json.dump(settings, f)
    os.rename(tmp, data_dir + "/" + SETTINGS)


def handle(node, name, msg):
    """Carry out one command; returns the reply document."""
    if name == "ping":
        return {"cmd": name, "ok": True, "detail": "pong"}
    if name == "stats":
        node.stats_due = True
        return {"cmd": name, "ok": True}
    if name == "interval":
        try:
            seconds = int(msg)
        except ValueError:
            seconds = 0
        if not 1 <= seconds <= 86400:
            return {"cmd": name, "ok": False, "detail": "give whole seconds, 1 to 86400"}
        node.settings["interval_s"] = seconds
        save_settings(node.data_dir, node.settings)
        node.interval = seconds
        return {"cmd": name, "ok": True, "detail": seconds}
    return {"cmd": name, "ok": False, "detail": "unknown command: use stats, interval or ping"}
