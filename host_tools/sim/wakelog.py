"""What a simulated node's wakes said, in words: one line per wake from the firmware's own log,
the reading numbers it took, and the summary both `demo` and `sim` end with (readings taken,
delivered, duplicates, lost), counted from what a subscriber received."""

import json
import re


# What a wake's log says, and how the line puts it, in the order of a wake.
SAYINGS = (
    (r"delivery failed \((\w+): .*?\); try (\d+)",
     lambda m: f"broker unreachable ({m[1]}), try {m[2]}"),
    (r"stored n=([\d,]+) in flash",
     lambda m: f"{len(m[1].split(','))} readings written to flash in one batch"),
    (r"Home Assistant discovery: (.*)", lambda m: f"Home Assistant discovery {m[1]}"),
    (r"node: sleeping (\d+) s \(buffered (\d+) in flash, (\d+) in RTC memory\)",
     lambda m: f"kept {m[2]} in flash + {m[3]} in RTC, sleeps {m[1]} s"),
)


def summary(output: str) -> str:
    """One wake's log as one line: readings, broker trouble, flash writes, discovery, what it
    keeps."""
    n = re.findall(r"node: reading n=(\d+)", output)
    parts = ["reading #" + ",".join(n)] if n else []
    for pattern, say in SAYINGS:
        m = re.search(pattern, output)
        if m:
            parts.append(say(m))
    return "; ".join(parts)


def taken(output: str) -> list:
    return [int(n) for n in re.findall(r"node: reading n=(\d+)", output)]


def seq(message):
    """The reading number of a message on a readings topic, else None."""
    if not message.topic.endswith("/readings"):
        return None
    try:
        return json.loads(message.payload)["seq"]
    except (ValueError, KeyError, TypeError):
        return None


def seqs(messages) -> list:
    return [s for s in (seq(m) for m in messages) if s is not None]


def tally(taken_numbers, messages, kept=0):
    """("readings taken N, delivered M, duplicates D, lost L", the numbers lost) of the readings
    taken, from the messages a subscriber received; `kept`: how many the node still holds (in
    RTC memory or flash, to be delivered later), which are not lost."""
    wanted = set(taken_numbers)
    got = [s for s in seqs(messages) if s in wanted]
    missing = sorted(wanted - set(got))
    lost = missing[:max(0, len(missing) - kept)]
    line = (f"readings taken {len(wanted)}, delivered {len(set(got))}, "
            f"duplicates {len(got) - len(set(got))}, lost {len(lost)}")
    if kept:
        line += f", still kept by the node {kept}"
    return line, lost


def kept(output: str) -> int:
    """How many readings the node holds at the end of a wake (its log says at deep sleep)."""
    m = re.search(r"node: sleeping \d+ s \(buffered (\d+) in flash, (\d+) in RTC memory\)", output)
    return int(m.group(1)) + int(m.group(2)) if m else 0
