"""The firmware as `build` compiles it (.mpy, main.py as source) runs a wake cycle on the unix
port against a real Mosquitto: the same files `flash` copies to a board."""

import os
import subprocess

import pytest

from host_tools import build, provision, unixport
from host_tools.monitor import Monitor

pytestmark = pytest.mark.broker

# Runs the built main.py after checking the node package comes from .mpy files.
WRAPPER = """
import node.app, node.config
assert node.app.__file__.endswith('.mpy'), node.app.__file__
assert node.config.__file__.endswith('.mpy'), node.config.__file__
print('loaded', node.app.__file__)
exec(open('{main}').read())
"""


def test_built_firmware_publishes_over_tls(tmp_path, broker):
    result = build.build(out=tmp_path / "fw")
    assert (result.out / "main.py").exists() and not (result.out / "node" / "app.py").exists()
    bundle = provision.write_bundle(
        tmp_path / "node-1", "node-1", host="127.0.0.1", port=broker.tls_port, ca_der=broker.ca_der,
        user="node-1", password=broker.users["node-1"], server_hostname="localhost")
    wrapper = tmp_path / "run_built.py"
    wrapper.write_text(WRAPPER.format(main=result.out / "main.py"))
    env = dict(os.environ, MICROPYPATH=f".frozen:{result.out}:{unixport.SIM}", NODE_DIR=str(bundle))
    with Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor", broker.users["monitor"]) as mon:
        proc = subprocess.run([unixport.interpreter(), str(wrapper)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"loaded {result.out}/node/app.mpy" in proc.stdout
        assert mon.wait_count(1, timeout=10), broker.log_text()
    assert mon.messages[0].topic == "nodes/node-1/readings"
