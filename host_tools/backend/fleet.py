"""The fleet table: one row per node from what the broker says about it (its retained status and
stats, its readings as they come, or the collector's last stored reading), and how to show it.

    status       online, sleeping, offline (the last will: it vanished without DISCONNECT), or
                 MISSED when it said it would wake at next_wake and has not (--grace seconds on)
    last reading its number and values, and its age (from the reading's own time)
    next wake    when a sleeping node said it wakes, from now
    delivery %, buffered, reconnects, TLS mode, free heap: from its last stats
"""

import json
import re
import time

_TOPIC = re.compile(r"^nodes/([^/]+)/(readings|status|stats)$")
COLUMNS = ("device", "status", "last reading", "age", "next wake", "delivery %", "buffered",
           "reconnects", "tls", "free heap")


def span(seconds):
    """"35 s", "4 min", "3 h", "2 d" (of a length of time, whichever way)."""
    if seconds is None:
        return ""
    s = abs(int(seconds))
    return (f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else
            f"{s // 3600} h" if s < 172800 else f"{s // 86400} d")


class Fleet:
    def __init__(self, grace=30):
        self.grace = grace
        self.nodes = {}         # device -> {"status": doc, "stats": doc, "reading": doc, ...}

    def _node(self, device):
        return self.nodes.setdefault(device, {"status": None, "stats": None, "reading": None})

    def known(self, devices):
        """Devices provisioned here: listed even before the broker says anything of them."""
        for d in devices:
            self._node(d)

    def update(self, topic, payload) -> bool:
        """Take one message; False when it is not a node's status, stats or reading."""
        m = _TOPIC.match(topic)
        if not m:
            return False
        try:
            doc = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(doc, dict) or not payload:
            return False
        kind = {"readings": "reading"}.get(m.group(2), m.group(2))
        node = self._node(m.group(1))
        if kind == "reading":
            old = node["reading"]
            if old is not None and isinstance(old.get("t"), int) and \
                    isinstance(doc.get("t"), int) and doc["t"] < old["t"]:
                return True         # a buffered reading delivered late: not the last one
        node[kind] = doc
        return True

    def stored(self, device, reading):
        """The collector's last stored reading, when none came while watching."""
        node = self._node(device)
        if node["reading"] is None:
            node["reading"] = reading

    def rows(self, now=None):
        """One dict per node, sorted by name: what the table and --json show."""
        now = time.time() if now is None else now
        out = []
        for device in sorted(self.nodes):
            n = self.nodes[device]
            status, stats, reading = n["status"] or {}, n["stats"] or {}, n["reading"]
            state = status.get("state")
            next_wake = status.get("next_wake") if state == "sleeping" else None
            missed = (next_wake is not None and now > next_wake + self.grace) or state == "offline"
            values, age = {}, None
            if reading:
                values = {k: v for k, v in reading.items() if k not in ("device", "seq", "t")}
                if isinstance(reading.get("t"), int):
                    age = now - reading["t"]
            out.append({
                "device": device,
                "status": state,
                "missed": missed,
                "seq": reading.get("seq") if reading else None,
                "values": values,
                "reading_age_s": age,
                "next_wake": next_wake,
                "next_wake_in_s": (next_wake - now) if next_wake is not None else None,
                "delivery_pct": stats.get("delivery_pct"),
                "buffered": stats.get("buffered"),
                "reconnects": stats.get("reconnects"),
                "tls": stats.get("tls"),
                "mtls": stats.get("mtls"),
                "free_heap": stats.get("free_heap"),
                "commands": status.get("commands"),
            })
        return out


def _cells(row):
    state = row["status"] or "not seen"
    if row["missed"]:
        state = "OFFLINE" if row["status"] == "offline" else "MISSED"
    reading = ""
    if row["seq"] is not None:
        reading = f"#{row['seq']} " + " ".join(f"{k}={v}" for k, v in row["values"].items())
    wake, left = "", row["next_wake_in_s"]
    if left is not None:
        wake = f"in {span(left)}" if left >= 0 else f"{span(left)} ago"
    tls = (row["tls"] or "") + (" +client cert" if row["mtls"] else "")

    def shown(v):
        return "" if v is None else str(v)
    return [row["device"], state, reading, span(row["reading_age_s"]), wake,
            shown(row["delivery_pct"]), shown(row["buffered"]), shown(row["reconnects"]), tls,
            shown(row["free_heap"])]


def table(rows, color=False) -> str:
    """The rows as text columns; nodes that missed their wake (or went offline) stand out:
    in reverse video on a terminal, with "!" in front otherwise."""
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for i, c in enumerate(cells):
        text = "  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()
        flagged = i > 0 and rows[i - 1]["missed"]
        if color:
            lines.append(f"\x1b[7m{text}\x1b[0m" if flagged else text)
        else:
            lines.append(("! " if flagged else "  ") + text)
    missed = sum(1 for r in rows if r["missed"])
    lines.append(f"{len(rows)} nodes"
                 + (f", {missed} missed their wake or went offline" if missed else ""))
    return "\n".join(lines)
