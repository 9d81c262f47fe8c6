"""pytest plugin: the fault suite's table (readings lost, duplicates, time blocked per fault)
and the TLS refusal matrix (the node's message per case).

Tests add a row with the `fault_report` fixture, a refusal with `refusal_report`; at the end
of the run both are printed in the terminal summary and written to build/fault-report.json
({"faults": [...], "tls_refusals": [...]}, only when such a test ran; $FAULT_REPORT names
another file, and empty, none), so the README can quote the figures of the last run.
"""

import json
import os
from pathlib import Path

import pytest

COLUMNS = (("fault", "fault"), ("variant", "variant"), ("taken", "readings"), ("held", "held"), ("lost", "lost"),
           ("lost_in_broker", "lost in broker"), ("duplicates", "dups"), ("resent", "resent"),
           ("max_blocked_s", "blocked s"), ("bound_s", "bound s"))
_rows = []
_refusals = {}


@pytest.fixture
def fault_report():
    """add(fault, variant, **figures): one row of the table."""

    def add(fault, variant, **figures):
        row = {"fault": fault, "variant": variant}
        row.update(figures)
        _rows.append(row)
        return row

    return add


@pytest.fixture
def refusal_report():
    """add(case, message, **facts): the node's refusal in one case of the TLS matrix."""

    def add(case, message, **facts):
        _refusals[case] = dict(case=case, message=message, **facts)

    return add


def pytest_terminal_summary(terminalreporter, config):
    if not (_rows or _refusals):
        return
    tr = terminalreporter
    rows = sorted(_rows, key=lambda r: (r["fault"], r["variant"]))
    if rows:
        _table(tr, rows)
    refusals = [_refusals[c] for c in sorted(_refusals)]
    if refusals:
        tr.section("TLS refusal matrix: the node's message, no CONNECT sent")
        width = max(len(r["case"]) for r in refusals)
        for r in refusals:
            tr.write_line(f"{r['case'].ljust(width)}  {r['message']}")
    # FAULT_REPORT: another file, or "" for none (the mutation check's runs).
    out = os.environ.get("FAULT_REPORT", config.rootpath / "build" / "fault-report.json")
    if not out:
        return
    out = Path(out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"faults": rows, "tls_refusals": refusals}, indent=1) + "\n")
    tr.write_line(f"written to {out}")


def _table(tr, rows):
    tr.section("fault suite: readings lost, duplicates, time blocked")
    cells = [[title for _, title in COLUMNS]]
    cells += [[_cell(r.get(key)) for key, _ in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    for i, line in enumerate(cells):
        tr.write_line("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                                for j, (c, w) in enumerate(zip(line, widths))))
        if i == 0:
            tr.write_line("  ".join("-" * w for w in widths))
    notes = [f"{r['fault']} / {r['variant']}: {r['note']}" for r in rows if r.get("note")]
    for note in notes:
        tr.write_line(note)


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)
