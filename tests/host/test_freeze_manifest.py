"""One list of what a board runs: firmware/manifest.py (the node package), included by the board
image's manifest and by both board emulators; the unix simulator is never in a board image."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_manifest(path: Path, calls: list):
    """Execute a MicroPython manifest the way tools/manifestfile.py does, recording its calls;
    includes of the project's own manifests are followed, the port's are recorded."""
    def include(p, **kw):
        target = (path.parent / p).resolve() if not p.startswith("$(") else None
        calls.append(("include", p))
        if target is not None:
            run_manifest(target if target.suffix == ".py" else target / "manifest.py", calls)

    env = {"include": include, "metadata": lambda **kw: calls.append(("metadata", kw)),
           "package": lambda name, files=None, base_path=".", opt=None:
               calls.append(("package", name, (path.parent / base_path).resolve(), files)),
           "module": lambda name, base_path=".", opt=None:
               calls.append(("module", name, (path.parent / base_path).resolve())),
           "require": lambda name, **kw: calls.append(("require", name))}
    exec(compile(path.read_text(), str(path), "exec"), env)
    return calls


def test_board_image_freezes_the_whole_node_package_and_no_simulator():
    calls = run_manifest(REPO / "freeze" / "manifest.py", [])
    assert ("include", "$(PORT_DIR)/boards/manifest.py") in calls
    packages = [c for c in calls if c[0] == "package"]
    assert packages == [("package", "node", REPO / "firmware", None)]
    assert not [c for c in calls if c[0] == "module"]
    # Everything under node/ is frozen (files=None), and the simulator is outside node/.
    node = REPO / "firmware" / "node"
    assert not list(node.rglob("sim*.py"))
    assert not [p for p in node.rglob("*.py") if "import simboard" in p.read_text()
                and p != node / "board" / "__init__.py"]


def test_emulators_freeze_the_same_node_manifest():
    board = run_manifest(REPO / "freeze" / "manifest.py", [])
    for emu in ("esp8266",):
        calls = run_manifest(REPO / "emu" / emu / "manifest.py", [])
        assert [c for c in calls if c[0] == "package"] == [c for c in board if c[0] == "package"]
