"""One measured figure next to its reference from the same run, and how to show them."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    reference: str = ""            # what it is compared with, measured in the same run
    reference_value: float | None = None
    note: str = ""

    def as_json(self):
        d = asdict(self)
        if not d["note"]:
            del d["note"]
        return d


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{int(v):,}"


def table(figures) -> str:
    rows = [("figure", "value", "unit", "reference", "ref. value")]
    rows += [(f.name, _fmt(f.value), f.unit, f.reference, _fmt(f.reference_value)) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.rjust(w) if i in (1, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{f.name}] {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))


def write_json(figures, path: Path):
    Path(path).write_text(json.dumps([f.as_json() for f in figures], indent=1) + "\n")
