"""A project folder for host_tools tests: certs/, build/ and a .env of its own, the CLI run
in-process on it, a real Mosquitto started from the files `broker config` wrote, and MQTT
clients (paho) logging in with the credentials the tools made."""

import contextlib
import io
import os
import ssl
import sys
import threading
from pathlib import Path

import paho.mqtt.client as paho

from host_tools import broker as mosq
from host_tools import certs, cli
from host_tools.broker.site import BrokerDir
from host_tools.pki import Pki
from host_tools.sim.monitor import Message


class Site:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.env_file = self.root / "test.env"
        self.env_file.write_text("")
        self.brokers = []

    @property
    def pki(self):
        return Pki(self.root / "certs")

    @property
    def bdir(self):
        return BrokerDir(self.root / "build" / "broker")

    def bundle(self, device):
        return self.root / "build" / "devices" / device

    def config(self, device):
        import json
        return json.loads((self.bundle(device) / "config.json").read_text())

    def cli(self, *args, stdin="", env=None, cwd=None):
        """(exit status, stdout, stderr) of `python -m host_tools ARGS` run here, in-process,
        with no MQTT_*/WIFI_* variables but those in `env`. With `cwd` it runs in that folder
        with the default folders (certs/, build/), as a user types it."""
        folders = [] if cwd else ["--certs", str(self.root / "certs"), "--build", str(self.root / "build")]
        argv = folders + ["--env-file", str(self.env_file)] + [str(a) for a in args]
        out, err = io.StringIO(), io.StringIO()
        saved = {k: v for k, v in os.environ.items() if k.startswith(("MQTT_", "WIFI_"))}
        for k in saved:
            del os.environ[k]
        os.environ.update(env or {})
        old_stdin, old_cwd = sys.stdin, os.getcwd()
        sys.stdin = io.StringIO(stdin)
        try:
            if cwd:
                os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = cli.main(argv)
                except SystemExit as exc:       # argparse's usage errors
                    rc = exc.code
        finally:
            os.chdir(old_cwd)
            sys.stdin = old_stdin
            for k in env or {}:
                os.environ.pop(k, None)
            os.environ.update(saved)
        return rc, out.getvalue(), err.getvalue()

    def ok(self, *args, **kw):
        rc, out, err = self.cli(*args, **kw)
        assert rc == 0, f"host_tools {' '.join(map(str, args))} -> {rc}\n{out}\n{err}"
        return out

    def setup(self, devices=("node-a", "node-b"), monitors=("monitor",), mtls=False,
              broker_key="rsa"):
        """CA, broker certificate for localhost/127.0.0.1, broker config on free ports (TLS and a
        loopback plain listener), unix devices and monitors."""
        self.ok("certs", "ca")
        self.ok("certs", "broker", "--dns", "localhost", "--ip", "127.0.0.1", "--key-type", broker_key)
        self.tls_port, self.plain_port = mosq.free_ports(2)
        self.ok("broker", "config", "--port", self.tls_port, "--dev", "--plain-port", self.plain_port,
                *(["--mtls"] if mtls else []))
        for d in devices:
            self.ok("provision", d, "--board", "unix", "--host", "localhost")
        for m in monitors:
            self.ok("broker", "user", m, "--role", "monitor")
        return self

    def login(self, name):
        """user, password of a monitor (from its .env file) or a device (from its bundle)."""
        env_file = self.root / "build" / "users" / f"{name}.env"
        if env_file.exists():
            values = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                          if "=" in line and not line.startswith("#"))
            return values["MQTT_USERNAME"], values["MQTT_PASSWORD"]
        mqtt = self.config(name)["mqtt"]
        return mqtt["user"], mqtt["password"]

    def client(self, login, **kw):
        """A paho client logging in with a monitor's or a device's credentials (not connected)."""
        user, password = self.login(login)
        return Client(self.tls_port, self.pki.ca_cert, user, password, **kw)

    def start_broker(self):
        b = mosq.Mosquitto(self.bdir.conf, self.bdir.log_file)
        self.brokers.append(b)
        b.start()
        return b

    def stop(self):
        for b in self.brokers:
            b.stop()

    def log(self):
        return self.bdir.log_file.read_text(errors="replace") if self.bdir.log_file.exists() else ""

    def ca_pem_from_bundle(self, device):
        """The bundle's ca.der as a PEM file, for paho."""
        pem = self.root / f"{device}-ca.pem"
        pem.write_bytes(certs.cert_pem(certs.load_cert(self.bundle(device) / "ca.der")))
        return pem


@contextlib.contextmanager
def broker_run(site, timeout=15, relative=False):
    """`python -m host_tools broker run` as a user starts it (`relative`: in the project folder
    with the default certs/ and build/); stopped with SIGTERM at the end."""
    import signal
    import subprocess
    import time
    folders = [] if relative else ["--certs", str(site.root / "certs"), "--build", str(site.root / "build")]
    cmd = [sys.executable, "-m", "host_tools"] + folders + ["broker", "run"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=site.root)
    lines = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "mosquitto version" in line and " running" in line:
                break
            if not line and proc.poll() is not None:
                break
        else:
            line = ""
        assert "running" in line, "broker run did not start Mosquitto:\n" + "".join(lines)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=timeout)
        proc.output = "".join(lines) + out


def connack(host, port, ca_pem, user, password, certfile=None, keyfile=None, timeout=10):
    """The broker's answer to a device-like login with paho: "Success", "Not authorized", or
    "closed: ..." when the connection ends without a CONNACK."""
    answered = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, reason, props):
        result.setdefault("reason", str(reason))
        answered.set()

    def on_disconnect(client, userdata, flags, reason, props):
        result.setdefault("reason", f"closed: {reason}")
        answered.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(ca_pem), certfile=certfile and str(certfile),
                   keyfile=keyfile and str(keyfile), cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(host, port, keepalive=10)
    except (ssl.SSLError, OSError) as exc:
        return f"closed: {exc}"
    client.loop_start()
    try:
        assert answered.wait(timeout), "no answer from the broker"
    finally:
        client.disconnect()
        client.loop_stop()
    return result["reason"]


class Client:
    """One paho connection as a login, on its own network thread; each step waits for the
    broker's answer (CONNACK, SUBACK, PUBACK) within a bound."""

    def __init__(self, port, ca_pem, user, password, client_id="", clean=True, will=None,
                 certfile=None, keyfile=None, host="localhost"):
        self.messages = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.reason = None
        self.session_present = None
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean, reconnect_on_failure=False)
        self.c.username_pw_set(user, password)
        self.c.tls_set(ca_certs=str(ca_pem), certfile=certfile and str(certfile),
                       keyfile=keyfile and str(keyfile), cert_reqs=ssl.CERT_REQUIRED)
        if will:
            topic, payload = will
            self.c.will_set(topic, payload, qos=1)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.closed.set()
        self.c.on_message = self._on_message
        self.host, self.port = host, port

    def _on_connect(self, client, userdata, flags, reason, props):
        self.reason, self.session_present = str(reason), flags.session_present
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(Message(msg.topic, msg.payload, msg.qos, msg.retain, bool(msg.dup)))
            self.cond.notify_all()

    def connect(self, timeout=10):
        self.c.connect(self.host, self.port, keepalive=30)
        self.c.loop_start()
        assert self.connected.wait(timeout) or self.closed.is_set(), "no CONNACK"
        return self.reason

    def subscribe(self, *topics, timeout=10):
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe([(t, 1) for t in topics])
        assert done.wait(timeout), "no SUBACK"

    def publish(self, topic, payload, retain=False, timeout=10):
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"no PUBACK for {topic}"

    def wait_for(self, predicate, timeout=10):
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.messages), timeout)

    def payloads(self):
        with self.cond:
            return [m.payload for m in self.messages]

    def drop(self):
        """The connection just breaks, without DISCONNECT: the broker sends the will."""
        self.c.loop_stop()
        self.c.socket().close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if not self.closed.is_set() and self.c.socket():
            self.c.disconnect()
            self.closed.wait(10)
        self.c.loop_stop()
