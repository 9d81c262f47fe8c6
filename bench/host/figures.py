"""One measured figure next to its reference from the same run, and how to show them.

bench/results.json is a list of objects with exactly the keys of KEYS; a figure's note (how it
was measured, what the reference is) is printed below the table, not written to the JSON.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

KEYS = ("name", "value", "unit", "reference", "reference_value")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    reference: str = ""            # what it is compared with, measured in the same run
    reference_value: float | None = None
    note: str = ""

    def as_json(self):
        return {k: getattr(self, k) for k in KEYS}


def problems(figures, strict=True) -> list:
    """What is wrong with a list of figures: a value that is not a finite number, and (strict,
    for the table of `make bench`) a name used twice or a figure without its reference."""
    out = []
    seen = set()
    for f in figures:
        if isinstance(f.value, bool) or not isinstance(f.value, (int, float)) or not math.isfinite(f.value):
            out.append(f"{f.name!r}: value {f.value!r} is not a finite number")
        if strict:
            if f.name in seen:
                out.append(f"{f.name!r}: the name is used twice")
            seen.add(f.name)
            if not f.reference:
                out.append(f"{f.name!r}: no reference")
            rv = f.reference_value
            if isinstance(rv, bool) or not isinstance(rv, (int, float)) or not math.isfinite(rv):
                out.append(f"{f.name!r}: reference value {rv!r} is not a finite number")
    return out


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) >= 0.001 else f"{v:.2g}"
    return f"{int(v):,}"


def table(figures) -> str:
    """The figures as a text table, then their notes."""
    rows = [("figure", "value", "unit", "reference", "ref. value")]
    rows += [(f.name, _fmt(f.value), f.unit, f.reference, _fmt(f.reference_value)) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, r in enumerate(rows):
        cells = [c.rjust(w) if i in (1, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{f.name}] {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))


def write_json(figures, path: Path):
    Path(path).write_text(json.dumps([f.as_json() for f in figures], indent=1) + "\n")
