"""What a simulated node's wakes said, in words: one line per wake from the firmware's own log,
the reading numbers it took, and the summary both `demo` and `sim` end with (readings taken,
delivered, duplicates, lost), counted from what a subscriber received."""

import json
import re


def summary(output: str) -> str:
    """One wake's log as one line: readings, broker trouble, flash writes, what it keeps."""
    parts = []
    n = re.findall(r"node: reading n=(\d+)", output)
    if n:
        parts.append("reading #" + ",".join(n))
    m = re.search(r"delivery failed \((\w+): .*?\); try (\d+)", output)
    if m:
        parts.append(f"broker unreachable ({m.group(1)}), try {m.group(2)}")
    m = re.search(r"stored n=([\d,]+) in flash", output)
    if m:
        parts.append(f"{len(m.group(1).split(','))} readings written to flash in one batch")
    m = re.search(r"Home Assistant discovery: (.*)", output)
    if m:
        parts.append(f"Home Assistant discovery {m.group(1)}")
    m = re.search(r"node: sleeping (\d+) s \(buffered (\d+) in flash, (\d+) in RTC memory\)", output)
    if m:
        parts.append(f"kept {m.group(2)} in flash + {m.group(3)} in RTC, sleeps {m.group(1)} s")
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
