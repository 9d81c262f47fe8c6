"""freeze/manifest.py lists every firmware module a board needs, and only files that exist."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIX_ONLY = {"board/unix.py", "board/simflash.py"}


def frozen_files():
    calls = []
    manifest = REPO / "freeze" / "manifest.py"
    # The manifest is Python run by MicroPython's manifestfile with these functions defined.
    env = {"include": lambda path: None,
           "package": lambda name, files=None, base_path=".": calls.append((name, files, base_path))}
    exec(compile(manifest.read_text(), str(manifest), "exec"), env)
    ((name, files, base_path),) = calls
    return (manifest.parent / base_path / name).resolve(), files


def test_manifest_lists_every_board_module_and_nothing_missing():
    root, files = frozen_files()
    assert root == REPO / "firmware" / "node"
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*.py")}
    assert set(files) == on_disk - UNIX_ONLY
    assert all((root / f).exists() for f in files)
