"""One list of what a board runs: firmware/package.json, which firmware/manifest.py (the node
package) freezes, included by the board image's manifest and by both board emulators; the unix
simulator is never in a board image. The MQTT client with TLS is a package of its own
(firmware/node/manifest.py and package.json), complete by itself."""

import json
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / "firmware" / "node"


def run_manifest(path: Path, calls: list):
    """Execute a MicroPython manifest the way tools/manifestfile.py does (in its own folder),
    recording its calls; includes of the project's own manifests are followed, the port's are
    recorded."""
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
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        exec(compile(path.read_text(), str(path), "exec"), env)
    finally:
        os.chdir(here)
    return calls


def node_modules():
    return sorted(str(p.relative_to(NODE)) for p in NODE.rglob("*.py")
                  if "__pycache__" not in p.parts and p.name != "manifest.py")


def test_board_image_freezes_the_whole_node_package_and_no_simulator():
    calls = run_manifest(REPO / "freeze" / "manifest.py", [])
    assert ("include", "$(PORT_DIR)/boards/manifest.py") in calls
    packages = [c for c in calls if c[0] == "package"]
    assert packages == [("package", "node", REPO / "firmware", node_modules())]
    assert not [c for c in calls if c[0] == "module"]
    # Every module under node/ is frozen (a new one missing from package.json fails here), and
    # the simulator is outside node/.
    node = REPO / "firmware" / "node"
    assert not list(node.rglob("sim*.py"))
    assert not [p for p in node.rglob("*.py") if "import simboard" in p.read_text()
                and p != node / "board" / "__init__.py"]


def test_emulators_freeze_the_same_node_manifest():
    board = run_manifest(REPO / "freeze" / "manifest.py", [])
    for emu in ("esp8266",):
        calls = run_manifest(REPO / "emu" / emu / "manifest.py", [])
        assert [c for c in calls if c[0] == "package"] == [c for c in board if c[0] == "package"]


def test_the_client_package_is_complete_by_itself_and_agrees_with_the_node():
    whole = json.loads((REPO / "firmware" / "package.json").read_text())
    client = json.loads((NODE / "package.json").read_text())
    for package, base in ((whole, REPO / "firmware"), (client, NODE)):
        for target, url in package["urls"]:
            assert (base / url).is_file() and (base / url).resolve() == (REPO / "firmware" / target).resolve()
    assert [t for t, _ in whole["urls"]] == ["node/" + m for m in node_modules()]
    names = {t[len("node/"):] for t, _ in client["urls"]}
    assert names < set(node_modules()) and "app.py" not in names
    calls = run_manifest(NODE / "manifest.py", [])
    assert [c for c in calls if c[0] == "package"] == [
        ("package", "node", REPO / "firmware", [t[len("node/"):] for t, _ in client["urls"]])]
    # Each of its modules imports, from the node, only what the package has.
    def module_file(parts):
        path = "/".join(parts)
        return path + ".py" if (NODE / (path + ".py")).exists() else (path + "/__init__.py").lstrip("/")

    for name in names:
        source = (NODE / name).read_text()
        for dotted, imported in re.findall(r"^\s*(?:from|import) (node(?:\.\w+)*)(?: import ([\w, ]+))?",
                                           source, re.M):
            parts = dotted.split(".")[1:]
            assert module_file(parts) in names, (name, dotted)
            for n in (i.strip() for i in imported.split(",") if i.strip()):
                if (NODE / "/".join(parts + [n + ".py"])).exists():
                    assert module_file(parts + [n]) in names, (name, dotted, n)
    # One version everywhere: the packages', the manifests', the firmware's own.
    version = re.search(r'^VERSION = "(.+)"', (NODE / "app.py").read_text(), re.M).group(1)
    assert whole["version"] == client["version"] == version
    assert ("metadata", {"version": version, "description": whole["description"]}) in \
        run_manifest(REPO / "firmware" / "manifest.py", [])
