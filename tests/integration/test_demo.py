"""`python -m host_tools demo` from an empty folder: certificates, broker, node, monitor, cleanup."""

import socket
import stat
import subprocess
import sys


def test_demo_from_nothing(tmp_path, mosquitto_exe):
    proc = subprocess.run([sys.executable, "-m", "host_tools", "demo", "--readings", "3"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "made CA, broker certificate" in out
    assert "3 readings taken, 3 delivered, 0 lost" in out
    assert out.count("broker delivered nodes/demo-node/readings (QoS 1)") == 3
    for key in ("certs/ca.key", "certs/broker.key", "build/devices/demo-node/config.json"):
        assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o600, key
    # Everything it started is gone: the port it used no longer accepts connections.
    port = int(out.split("Mosquitto on 127.0.0.1:")[1].split(" ")[0])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0

    # A second run reuses the certificates.
    again = subprocess.run([sys.executable, "-m", "host_tools", "demo", "--readings", "1"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "made" not in again.stdout
    assert "1 readings taken, 1 delivered, 0 lost" in again.stdout
