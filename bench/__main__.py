"""`make bench`: the figures in one run, one table, and bench/results.json.

    python -m bench                  the figures (DEFAULT, in this order): table + results.json
    python -m bench NAME [NAME ...]  only those benchmarks (bench/bench_NAME.py), e.g. codesize,
                                     or the extra ones not in the table (mqtt_extra, ringbuf)
    python -m bench all              DEFAULT, then the extra ones
    --out PATH                       write the JSON there instead of bench/results.json

Each bench_NAME.py has `run(ctx) -> list[Figure]`; ctx.workdir is a fresh folder. The figures
of DEFAULT must each carry a reference measured in the same run (checked: a figure without one
fails the run), and their names are unique.
"""

import importlib
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .host.figures import problems, table, write_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
# The table of `make bench`, in order: delivery (wake-to-ack, round trips, flush), whole wakes
# (memory, time, bytes, flash), code size.
DEFAULT = ("mqtt", "node", "boards", "codesize", "energy")


@dataclass
class Context:
    workdir: Path


def available():
    return sorted(p.stem[len("bench_"):] for p in (HERE / "host").glob("bench_*.py"))


def selection(argv):
    names = available()
    if not argv:
        return list(DEFAULT)
    if argv == ["all"]:
        return list(DEFAULT) + [n for n in names if n not in DEFAULT]
    unknown = sorted(set(argv) - set(names))
    if unknown:
        raise SystemExit(f"bench: no benchmark named {', '.join(unknown)} (have: {', '.join(names)}, or all)")
    return list(argv)


def run_modules(modules, out: Path, log=print) -> int:
    """Run (name, module) pairs in order, print the table, write the JSON; the exit status."""
    figures, failed = [], []
    started = time.monotonic()
    for name, module in modules:
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            try:
                got = module.run(Context(Path(tmp)))
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
        bad = problems(got, strict=name in DEFAULT)
        if bad:
            for p in bad:
                log(f"bench: {name}: {p}")
            failed.append(name)
        figures += got
        log(f"bench: {name}: {len(got)} figures in {time.monotonic() - t0:.1f} s")
    log("")
    log(table(figures))
    write_json(figures, out)
    log(f"\n{len(figures)} figures in {time.monotonic() - started:.0f} s, written to {out}")
    if failed:
        log(f"bench: failed: {', '.join(failed)}")
        return 1
    return 0


def main(argv):
    out = RESULTS
    if "--out" in argv:
        i = argv.index("--out")
        if i + 1 >= len(argv):
            raise SystemExit("bench: --out needs a path")
        out = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    names = selection(argv)
    return run_modules([(n, importlib.import_module(f"bench.host.bench_{n}")) for n in names], out)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
