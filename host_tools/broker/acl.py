"""Mosquitto's ACL file: what each login may read and write.

A device writes only what the node publishes under its own prefix, and reads only its own
commands; a monitor (a back end) reads every node and sends commands. Each row of a table is one
`topic` line of a user's block, `{id}` standing for the device's name: a new kind of topic a
device writes is one more row.

host_tools owns only the part of the file between its BEGIN and END lines; users and rules added
by hand outside it are kept as they are.
"""

import re

# (access, topic) of a device named {id}.
DEVICE_TOPICS = (
    ("write", "nodes/{id}/readings"),
    ("write", "nodes/{id}/status"),      # retained, and the node's last will
    ("write", "nodes/{id}/stats"),
    ("write", "nodes/{id}/reply"),       # answers to commands
    ("write", "homeassistant/sensor/{id}/#"),  # its Home Assistant discovery configs (retained)
    ("read", "nodes/{id}/cmd/#"),        # commands, kept by its persistent session (QoS 1)
)
MONITOR_TOPICS = (
    ("read", "nodes/#"),
    ("write", "nodes/+/cmd/#"),
    ("read", "homeassistant/#"),         # discovery, for Home Assistant's own login
    ("write", "homeassistant/status"),   # Home Assistant's birth and last will
)

BEGIN = "# BEGIN host_tools: devices and monitors, rewritten by `provision`, `broker user`, `revoke`"
END = "# END host_tools"
HEADER = ("# Mosquitto ACL. host_tools rewrites only the lines from BEGIN host_tools to END\n"
          "# host_tools; rules added above BEGIN (a `user NAME` line, then its `topic` lines)\n"
          "# are kept as they are.\n")


def block(user, rules, device_id=None) -> str:
    lines = [f"user {user}"] + [f"topic {access} {topic.format(id=device_id)}" for access, topic in rules]
    return "\n".join(lines) + "\n"


def generated(devices=(), monitors=(), device_topics=DEVICE_TOPICS) -> str:
    parts = [block(d, device_topics, d) for d in devices] + [block(m, MONITOR_TOPICS) for m in monitors]
    return BEGIN + "\n" + "\n".join(parts) + END + "\n"


def _split(text):
    """(before, after) the generated part of an existing ACL file."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(BEGIN.split(":")[0])]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END]
    if not starts:
        return text, ""
    start = starts[0]
    end = next((i for i in ends if i > start), len(lines) - 1)
    return "".join(lines[:start]), "".join(lines[end + 1:])


def merge(existing: str | None, devices=(), monitors=(), device_topics=DEVICE_TOPICS) -> str:
    """The ACL with the generated part rewritten and every other line kept."""
    if not existing:
        return HEADER + "\n" + generated(devices, monitors, device_topics)
    before, after = _split(existing)
    if before and not before.endswith("\n"):
        before += "\n"
    return before + generated(devices, monitors, device_topics) + after


def hand_written(text: str | None) -> str:
    before, after = _split(text or "")
    return before + after


def device_samples(device_id, other="host-check-other"):
    """(may, may_not) as (access, topic) pairs: each rule of DEVICE_TOPICS for this device, and
    what it must not do: the same for another device, and write what it only reads."""
    def concrete(dev):
        # "#" as a topic of the shape the node writes there (a discovery config, say), which
        # RabbitMQ's narrower permissions (broker/rabbitmq.py NARROWER) grant too.
        return [(a, t.format(id=dev).replace("#", "host-check/config")) for a, t in DEVICE_TOPICS]
    may = concrete(device_id)
    return may, concrete(other) + [("write", t) for a, t in may if a == "read"]


def users_named(text: str) -> list:
    return re.findall(r"^user\s+(\S+)\s*$", text or "", re.M)


# Mosquitto's own evaluation of the file, for `check` and the tests -------------------------

_ACCESS = {"read": 1, "write": 2, "readwrite": 3, "deny": 0}


def _rules(text):
    """[(user or None for patterns, access, topic)] in file order."""
    out, user = [], None
    for raw in (text or "").splitlines():
        words = raw.split(None, 2)
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user" and len(words) >= 2:
            user = raw.split(None, 1)[1].strip()
        elif words[0] in ("topic", "pattern") and len(words) >= 2:
            if len(words) == 2 or words[1] not in _ACCESS:
                access, topic = "readwrite", raw.split(None, 1)[1].strip()
            else:
                access, topic = words[1], words[2].strip()
            out.append((user if words[0] == "topic" else None, access, topic, words[0] == "pattern"))
    return out


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT's matching of a topic against a filter with + and # wildcards."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def allows(text: str, user: str, access: str, topic: str, client_id: str | None = None) -> bool:
    """Whether the ACL lets `user` read or write `topic`: deny rules first, then any rule that
    grants the access (its own `topic` lines, then `pattern` lines with %u and %c)."""
    want = _ACCESS[access]
    rules = []
    for owner, acc, filt, pattern in _rules(text):
        if pattern:
            filt = filt.replace("%u", user).replace("%c", client_id or user)
        elif owner != user:
            continue
        rules.append((acc, filt))
    if any(acc == "deny" and topic_matches(filt, topic) for acc, filt in rules):
        return False
    return any(_ACCESS[acc] & want and topic_matches(filt, topic) for acc, filt in rules)
