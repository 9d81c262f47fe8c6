"""The board self test (node.selftest, `make smoke PORT=...`): on the unix board directly, and
through mpremote to a MicroPython on a serial port, against a real broker."""

import subprocess
import sys

from harness.serialboard import SerialMicroPython
from host_tools import cli, provision, unixport
from host_tools.broker.acl import DEVICE_TOPICS
from host_tools.monitor import Monitor
from host_tools.simnode import SimNode
from host_tools.device import serialport
from host_tools.device.board import SMOKE


def bundle(tmp_path, b):
    return provision.write_bundle(tmp_path / "node-1", "node-1", host="127.0.0.1", port=b.tls_port,
                                  ca_der=b.ca_der, user="node-1", password=b.users["node-1"],
                                  server_hostname="localhost")


def run_selftest(node_dir):
    proc = unixport.run(["-c", SMOKE], env={"NODE_DIR": str(node_dir)}, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_selftest_passes_on_a_good_setup_and_leaves_the_session(tmp_path, broker_factory):
    # As deployed: client ids bound to logins, a device writes only its own topics.
    b = broker_factory(device_topics=DEVICE_TOPICS, bind_client_ids=True)
    node_dir = bundle(tmp_path, b)
    node = SimNode(node_dir)
    assert node.wake().outcome == "slept"          # the node's persistent session exists
    with Monitor(b.host, b.tls_port, b.ca_pem, "monitor", b.users["monitor"]) as mon:
        mon.client.publish("nodes/node-1/cmd/ping", "", qos=1).wait_for_publish(10)
    out = run_selftest(node_dir)
    for check in ("config", "clock", "tls", "buffer", "rtc"):
        assert f"smoke: PASS {check}" in out, out
    assert "smoke: 5 of 5 checks passed" in out
    # The device's own login (the only one such a broker allows), to its persistent session...
    assert "as node-1 (p2, c0, k30, u'node-1')" in b.log_text()
    # ... which it left as it was: the command queued for the node still reaches the node.
    w = node.wake()
    assert "node: command ping" in w.output, w.output


def test_selftest_reports_each_failure_and_runs_the_rest(tmp_path, broker):
    node_dir = bundle(tmp_path, broker)
    broker.stop()
    out = run_selftest(node_dir)
    assert "smoke: FAIL tls" in out and "is the broker running" in out, out
    assert "smoke: PASS buffer" in out and "smoke: PASS rtc" in out
    assert "smoke: 4 of 5 checks passed" in out


def test_smoke_command_runs_the_self_test_over_mpremote(tmp_path, broker, monkeypatch, capsys):
    node_dir = bundle(tmp_path, broker)
    board = SerialMicroPython(tmp_path, env={"NODE_DIR": str(node_dir),
                                             "MICROPYPATH": unixport.micropypath()})
    # This test holds the pty's host end itself, which the busy-port check would refuse
    # (that check has its own tests in tests/host/test_flash.py).
    monkeypatch.setattr(serialport, "check", lambda port: None)
    monkeypatch.chdir(tmp_path)
    try:
        assert cli.main(["smoke", "--port", board.port]) == 0
        assert "smoke: 5 of 5 checks passed" in capsys.readouterr().out
        broker.stop()
        assert cli.main(["smoke", "--port", board.port]) == 2
        captured = capsys.readouterr()
        assert "smoke: FAIL tls" in captured.out
        assert "host_tools: self test: 4 of 5 checks passed" in captured.err
    finally:
        board.close()


def test_smoke_dry_run_and_missing_port(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "host_tools", "smoke", "--port", "/dev/ttyUSB9",
                           "--dry-run"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0
    assert "mpremote connect /dev/ttyUSB9 resume exec 'import node.selftest; node.selftest.run()'" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "host_tools", "smoke", "--port", "/dev/ttyUSB9"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "/dev/ttyUSB9" in proc.stderr and "Traceback" not in proc.stderr
