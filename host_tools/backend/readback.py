"""`collect --since T --device D --csv`: what the collector stored, read back: a table, or CSV
(one column per value the nodes send) for a spreadsheet or a script. Times are UTC."""

import csv
import datetime as dt
import re
import sys
import time

from ..errors import UserError
from .store import Store

_SPAN = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now=None) -> int:
    """A Unix time from "2h", "30m", "7d" (ago) or an ISO date or date and time (UTC unless it
    says otherwise: 2026-11-30, 2026-11-30T12:00, 2026-11-30 12:00:00+01:00)."""
    now = time.time() if now is None else now
    m = _SPAN.match(text.strip().lower())
    if m:
        return int(now - int(m.group(1)) * _SECONDS[m.group(2)])
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--since {text!r} is neither a span nor a date: give e.g. 2h, 30m, 7d, "
                        "2026-11-30 or 2026-11-30T12:00 (UTC)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def utc(t):
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(store, device=None, since=None):
    """(header, rows): device, seq, time, received, then every value field in the order first
    seen."""
    found = store.readings(device, since)
    fields = []
    for *_, doc in found:
        fields += [k for k in doc if k not in ("device", "seq", "t") and k not in fields]
    header = ["device", "seq", "time", "received"] + fields
    out = [[d, s, utc(t), utc(r)] + [doc.get(f, "") for f in fields] for d, s, t, r, doc in found]
    return header, out


def command(ctx, args):
    from .collector import default_db
    path = args.db or default_db(ctx)
    if not path.exists():
        raise UserError(f"no database at {path}: run `python -m host_tools collect` first (or give "
                        "--db PATH)")
    since = parse_since(args.since) if args.since is not None else None
    store = Store(path)
    try:
        header, table = rows(store, args.device, since)
    finally:
        store.close()
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(header)
        w.writerows(table)
        return 0
    widths = [max([len(str(h))] + [len(str(r[i])) for r in table]) for i, h in enumerate(header)]
    for line in [header] + table:
        print("  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip())
    print(f"{len(table)} readings" + (f" of {args.device}" if args.device else "")
          + (f" since {utc(since)}" if since is not None else ""))
    return 0
