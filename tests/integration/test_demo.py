"""`python -m host_tools demo` from an empty folder: certificates, broker, a node through a
broker outage, monitor, summary, cleanup."""

import re
import socket
import stat
import subprocess
import sys


def demo(cwd, wakes):
    proc = subprocess.run([sys.executable, "-m", "host_tools", "demo", "--wakes", str(wakes)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_demo_from_nothing(tmp_path, mosquitto_exe):
    rc, out = demo(tmp_path, 40)
    assert rc == 0, out
    assert "made CA, broker certificate" in out
    # The outage happened: wakes failed and readings went to flash, then all arrived.
    assert "broker STOPPED" in out and "broker unreachable" in out and "broker back" in out
    assert "written to flash in one batch" in out
    m = re.search(r"readings taken (\d+), delivered (\d+), duplicates (\d+), lost (\d+)", out)
    assert m, out
    taken, delivered, dups, lost = map(int, m.groups())
    assert taken >= 10 and delivered == taken and lost == 0, out
    assert out.count("monitor <- reading #") == delivered + dups
    for key in ("certs/ca.key", "certs/broker.key", "build/devices/demo-node/config.json"):
        assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o600, key
    # Everything it started is gone: the port it used no longer accepts connections.
    port = int(out.split("Mosquitto on 127.0.0.1:")[1].split(" ")[0])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0

    # A second run reuses the certificates and starts a new board.
    rc, again = demo(tmp_path, 4)
    assert rc == 0, again
    assert "made" not in again
    assert re.search(r"readings taken (\d+), delivered \1, duplicates 0, lost 0", again), again
