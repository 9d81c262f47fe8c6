"""pytest plugin: the fault suite's table (readings lost, duplicates, time blocked per fault).

Tests add a row with the `fault_report` fixture; at the end of the run the rows are printed in
the terminal summary and written to build/fault-report.json (only when a fault test ran), so
the README can quote the figures of the last run.
"""

import json

import pytest

COLUMNS = (("fault", "fault"), ("variant", "variant"), ("taken", "readings"), ("lost", "lost"),
           ("lost_in_broker", "lost in broker"), ("duplicates", "dups"), ("resent", "resent"),
           ("max_blocked_s", "blocked s"), ("bound_s", "bound s"))
_rows = []


@pytest.fixture
def fault_report():
    """add(fault, variant, **figures): one row of the table."""

    def add(fault, variant, **figures):
        row = {"fault": fault, "variant": variant}
        row.update(figures)
        _rows.append(row)
        return row

    return add


def pytest_terminal_summary(terminalreporter, config):
    if not _rows:
        return
    rows = sorted(_rows, key=lambda r: (r["fault"], r["variant"]))
    tr = terminalreporter
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
    out = config.rootpath / "build" / "fault-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    tr.write_line(f"written to {out}")


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)
