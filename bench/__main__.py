"""Run every bench/bench_*.py, print one table, write bench/results.json.

Each benchmark module has `run(ctx) -> list[Figure]`; ctx.workdir is a fresh folder.
`python -m bench [name ...]` runs only the named modules (e.g. `python -m bench codesize`).
"""

import importlib
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .figures import table, write_json

HERE = Path(__file__).resolve().parent


@dataclass
class Context:
    workdir: Path


def modules(selected):
    names = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    unknown = set(selected) - set(names)
    if unknown:
        raise SystemExit(f"bench: no benchmark named {', '.join(sorted(unknown))} (have: {', '.join(names)})")
    return [n for n in names if not selected or n in selected]


def main(argv):
    figures, failed = [], []
    for name in modules(argv):
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            try:
                got = module.run(Context(Path(tmp)))
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
        figures += got
        print(f"bench: {name}: {len(got)} figures in {time.monotonic() - started:.1f} s", flush=True)
    print()
    print(table(figures))
    out = HERE / "results.json"
    write_json(figures, out)
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
