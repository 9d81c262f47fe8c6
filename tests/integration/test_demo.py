"""`python -m host_tools demo` from an empty folder: its own certificates and broker files under
build/demo/, a node through a broker outage, monitor, summary, cleanup; and the real setup in
certs/ neither used nor touched, whichever came first."""

import hashlib
import re
import socket
import stat
import subprocess
import sys


def demo(cwd, wakes):
    proc = subprocess.run([sys.executable, "-m", "host_tools", "demo", "--wakes", str(wakes)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def host_tools(cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "host_tools", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


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
    demo_dir = tmp_path / "build" / "demo"
    for key in ("certs/ca.key", "certs/broker.key", "devices/demo-node/config.json",
                "broker/mqtt-node/server.key", "broker/mqtt-node/passwd"):
        assert stat.S_IMODE((demo_dir / key).stat().st_mode) == 0o600, key
    # The broker it ran is the one `broker config` writes: client ids bound to logins.
    assert "use_username_as_clientid true" in (demo_dir / "broker" / "run" / "mosquitto.conf").read_text()
    assert not (tmp_path / "certs").exists() and not (tmp_path / "build" / "devices").exists()
    # Everything it started is gone: the port it used no longer accepts connections.
    port = int(out.split("Mosquitto on 127.0.0.1:")[1].split(" ")[0])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0

    # The real setup after it: a CA of its own, no clash with the demo's.
    host_tools(tmp_path, "certs", "ca")
    # A second run reuses the demo's certificates and starts a new board.
    rc, again = demo(tmp_path, 4)
    assert rc == 0, again
    assert "made" not in again
    assert re.search(r"readings taken (\d+), delivered \1, duplicates 0, lost 0", again), again


def test_demo_beside_a_real_setup_leaves_it_alone(tmp_path, mosquitto_exe):
    """Real certificates for a LAN address exist first; the demo runs anyway, and certs/ and
    build/broker/ are byte for byte what they were."""
    host_tools(tmp_path, "certs", "ca")
    host_tools(tmp_path, "certs", "broker", "--dns", "broker.lan", "--ip", "192.168.1.10")
    host_tools(tmp_path, "broker", "config")
    before = digest(tmp_path / "certs"), digest(tmp_path / "build" / "broker")
    rc, out = demo(tmp_path, 3)
    assert rc == 0, out
    assert (digest(tmp_path / "certs"), digest(tmp_path / "build" / "broker")) == before
