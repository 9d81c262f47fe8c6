"""`mpremote mip install` of the two packages (firmware/node/package.json: the MQTT client with
TLS; firmware/package.json: the whole node) into the unix port of MicroPython behind a serial
port, as onto a board: from a local path, and from a file server on loopback the way mip reads
github:OWNER/REPO/firmware/... (relative URLs under the package.json). What was installed, and
nothing of firmware/, then runs: the umqtt.robust drop-in test, a TLS login with the broker's
pin against a real Mosquitto, and for the whole node a wake."""

import functools
import http.server
import json
import os
import subprocess
import threading

import pytest

from harness.serialboard import SerialMicroPython
from host_tools import certs, provision, tools, unixport

pytestmark = pytest.mark.broker

REPO = unixport.REPO
DEVICE_TESTS = REPO / "tests" / "device"


@pytest.fixture(scope="module")
def file_server():
    """The repository over HTTP on loopback, as raw.githubusercontent.com serves it."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REPO))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def mip_install(tmp_path, package):
    """`mpremote connect PORT resume mip install --target LIB PACKAGE` into the unix port
    (`resume`: a soft reset would end the unix port's REPL); returns LIB."""
    lib = tmp_path / "lib"
    board = SerialMicroPython(tmp_path)
    try:
        proc = subprocess.run(tools.command("mpremote") + ["connect", board.port, "resume", "mip",
                                                           "install", "--target", str(lib), package],
                              capture_output=True, text=True, timeout=120)
    finally:
        board.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return lib


def installed(lib):
    return sorted(str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file())


def run_only(lib, args, extra=(), cwd=None, env=None, timeout=60):
    """micropython with only what mip installed (and `extra`) importable: not firmware/."""
    full = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(lib)] + [str(e) for e in extra]))
    full.update(env or {})
    return subprocess.run([unixport.interpreter()] + list(args), env=full, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or lib)


def package_files(path):
    return sorted(target for target, _ in json.loads(path.read_text())["urls"])


CLIENT_TLS_LOGIN = """
import json
from node.mqtt.robust import MQTTClient
from node.tls import make_context
P = json.load(open("params.json"))
ctx = make_context({"mode": "pin", "pins": P["pins"], "ca": None, "cert": None, "key": None,
                    "server_hostname": None}, ".")
c = MQTTClient("node-1", "127.0.0.1", P["port"], "node-1", P["password"], keepalive=30,
               ssl=ctx, timeout=5)
c.connect()
print("PID", c.publish("nodes/node-1/readings", '{"seq": 1}', qos=1))
c.disconnect()
"""


@pytest.mark.parametrize("source", ["local path", "file server"])
def test_the_mqtt_client_with_tls_installs_alone_and_is_a_umqtt_robust_drop_in(
        source, tmp_path, file_server, broker):
    package = (str(REPO / "firmware" / "node" / "package.json") if source == "local path"
               else f"{file_server}/firmware/node")
    lib = mip_install(tmp_path, package)
    assert installed(lib) == package_files(REPO / "firmware" / "node" / "package.json")
    assert not (lib / "node" / "app.py").exists()
    # The umqtt.robust drop-in test, against what mip installed.
    proc = run_only(lib, [str(REPO / "tests" / "harness" / "device_runner.py"), "test_mqtt_client",
                          "test_umqtt_robust_program_runs_unchanged"], extra=[DEVICE_TESTS])
    assert proc.returncode == 0 and "DEVICE-TEST-PASSED" in proc.stdout, proc.stdout + proc.stderr
    # TLS: the broker authenticated by its certificate's pin, before the password goes out.
    pin = certs.fingerprint_sha256(certs.load_cert(broker.pki.broker_cert))
    (tmp_path / "params.json").write_text(json.dumps(
        {"port": broker.tls_port, "password": broker.users["node-1"], "pins": [pin]}))
    (tmp_path / "login.py").write_text(CLIENT_TLS_LOGIN)
    proc = run_only(lib, ["login.py"], cwd=tmp_path)
    assert proc.returncode == 0 and "PID 1" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("source", ["local path", "file server"])
def test_the_whole_node_installs_and_wakes(source, tmp_path, file_server, broker):
    package = (str(REPO / "firmware" / "package.json") if source == "local path"
               else f"{file_server}/firmware")
    lib = mip_install(tmp_path, package)
    assert installed(lib) == package_files(REPO / "firmware" / "package.json")
    bundle = provision.write_bundle(tmp_path / "bundle", "node-1", host="127.0.0.1",
                                    port=broker.tls_port, ca_der=broker.ca_der, user="node-1",
                                    password=broker.users["node-1"], server_hostname="localhost")
    # The board's own main.py; the unix board simulator stands in for the board's drivers.
    proc = run_only(lib, [str(REPO / "firmware" / "main.py")], extra=[unixport.SIM],
                    env={"NODE_DIR": str(bundle), "NODE_SIM": str(tmp_path / "board")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "node: reading n=1" in proc.stdout and "(buffered 0 in flash, 0 in RTC memory)" in proc.stdout
