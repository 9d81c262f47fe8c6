"""What the benchmarks run against: certificates, a local Mosquitto over TLS as host_tools
configures it (set_tcp_nodelay true), the firmware's own config defaults, and the device side
of bench_mqtt (bench/mqtt_device.py) run under the unix port."""

import importlib.util
import json
import secrets
import statistics
from pathlib import Path

from host_tools import localbroker, unixport
from host_tools.pki import Pki

HERE = Path(__file__).resolve().parent
# What runs under MicroPython (the host side here drives it).
DEVICE_DIR = HERE.parent / "device"
DEVICE = "node-1"


def firmware_defaults() -> dict:
    """The defaults of firmware/node/config.py's SCHEMA (it runs on CPython too), section ->
    key -> default: e.g. ["mqtt"]["window"]."""
    spec = importlib.util.spec_from_file_location("_bench_node_config",
                                                  unixport.FIRMWARE / "node" / "config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {section: {key: rule[0] for key, rule in keys.items()}
            for section, keys in module.SCHEMA.items()}


def median(xs):
    return statistics.median(xs)


class Rig:
    """A CA, an RSA-2048 broker certificate for localhost/127.0.0.1, and brokers that let the
    device DEVICE in with a random password."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.pki = Pki(self.workdir / "pki")
        self.pki.create_ca(common_name="bench CA")
        self.pki.issue_broker(dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        self.password = secrets.token_urlsafe(16)
        self.brokers = []
        self.device_dir = self.workdir / "device"
        self.device_dir.mkdir(exist_ok=True)
        (self.device_dir / "ca.der").write_bytes(self.pki.ca_der.read_bytes())

    def broker(self, name="broker", extra=()):
        b = localbroker.prepare(self.workdir / name, self.pki, devices=(DEVICE,),
                                users={DEVICE: self.password}, autosave_interval=3600,
                                extra=list(extra))
        self.brokers.append(b.start())
        return b

    def close(self):
        for b in self.brokers:
            b.stop()

    def device(self, port, timeout=600, **params):
        """Run bench/mqtt_device.py with params against port; its JSON result."""
        params.update(host="localhost", port=port, user=DEVICE, password=self.password)
        path = self.device_dir / "params.json"
        path.write_text(json.dumps(params))
        proc = unixport.run([str(DEVICE_DIR / "mqtt_device.py"), str(path)], cwd=self.device_dir,
                            path_extra=[DEVICE_DIR], timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"mqtt_device.py failed:\n{proc.stdout}{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
