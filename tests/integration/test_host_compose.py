"""`broker config --compose [--websockets PORT]`: a Docker Compose file for the broker `broker
config` writes: eclipse-mosquitto pinned by tag, 8883 published, the config, password file, ACL
and certificates mounted read-only, the container running as their owner so that no key is
loosened. Checked by its structure, by `docker compose config` where Docker Compose is
installed, and by starting this machine's Mosquitto on the container's config with its paths
mapped here, a provisioned device logging in over TLS."""

import getpass
import os
import re
import shutil
import stat
import subprocess

import pytest
import yaml

from host_site import connack
from host_tools import broker as mosq

pytestmark = pytest.mark.broker


@pytest.fixture
def site(site_factory):
    return site_factory(devices=("node-a",), monitors=(), start=False)


def compose_file(site):
    return site.bdir.root / "compose.yaml"


def container_conf(site):
    return (site.bdir.root / "compose" / "mosquitto.conf").read_text()


def test_the_compose_file_mounts_everything_read_only_and_loosens_no_key(site):
    out = site.ok("broker", "config", "--compose", "--websockets", "8884")
    assert "docker compose up -d" in out and "WebSockets over TLS on 8884" in out
    doc = yaml.safe_load(compose_file(site).read_text())
    svc = doc["services"]["mosquitto"]
    assert re.fullmatch(r"eclipse-mosquitto:\d+\.\d+\.\d+", svc["image"]), svc["image"]
    files = site.bdir.files
    assert svc["user"] == f"{os.stat(files).st_uid}:{os.stat(files).st_gid}"
    tls = site.tls_port
    assert svc["ports"] == [f"127.0.0.1:{tls}:{tls}", "127.0.0.1:8884:8884"]
    mounts = {v.split(":")[1]: v for v in svc["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"].endswith(":ro")
    assert mounts["/mosquitto/config/mqtt-node"] == "./mqtt-node:/mosquitto/config/mqtt-node:ro"
    assert not mounts["/mosquitto/data"].endswith(":ro")
    # What the container reads exists in what is mounted, and stays private to its owner.
    conf = container_conf(site)
    named = re.findall(r"^\w+ (/mosquitto/config/mqtt-node/\S+)$", conf, re.M)
    assert {n.rsplit("/", 1)[1] for n in named} == {"passwd", "acl", "server.crt", "server.key"}
    for name in named:
        host_path = files / name.rsplit("/", 1)[1]
        assert host_path.is_file() and stat.S_IMODE(host_path.stat().st_mode) == 0o600, host_path
    assert stat.S_IMODE(files.stat().st_mode) == 0o700
    for folder in ("compose", "compose/data"):
        assert stat.S_IMODE((site.bdir.root / folder).stat().st_mode) == 0o700
    # Inside the container: every interface (the published ports choose the host's), TLS 1.2
    # on the MQTT and the WebSocket listener alike, the log to the container's output.
    listeners = re.findall(r"^listener (.*)\nprotocol (\w+)", conf, re.M)
    assert listeners == [(str(tls), "mqtt"), ("8884", "websockets")]
    assert conf.count("tls_version tlsv1.2") == 2 and conf.count("use_username_as_clientid true") == 2
    assert "log_dest stdout" in conf and "persistence_location /mosquitto/data/" in conf
    # A device provisioned later is in the mounted files; the Compose files are kept up to date.
    site.ok("provision", "node-b", "--board", "unix", "--host", "localhost")
    assert "user node-b" in (files / "acl").read_text() and compose_file(site).exists()
    site.ok("broker", "config", "--dev", "--plain-port", site.plain_port)
    ports = yaml.safe_load(compose_file(site).read_text())["services"]["mosquitto"]["ports"]
    assert ports == [f"127.0.0.1:{tls}:{tls}", f"127.0.0.1:{site.plain_port}:{site.plain_port}",
                     "127.0.0.1:8884:8884"]
    site.ok("broker", "config", "--no-compose")
    assert not compose_file(site).exists()


def test_the_containers_config_starts_mosquitto_and_a_device_logs_in(site, tmp_path):
    site.ok("broker", "config", "--compose")
    # The container's paths, mapped onto this machine (Mosquitto here has no WebSockets).
    data = tmp_path / "data"
    data.mkdir()
    conf = container_conf(site).replace("/mosquitto/config/mqtt-node", str(site.bdir.files))
    conf = conf.replace("/mosquitto/data/", f"{data}/").replace(
        "log_dest stdout", f"log_dest file {tmp_path / 'mosquitto.log'}")
    # Who runs it here (in the container it runs as the files' owner, so `user` does not apply).
    conf = re.sub(r"^user \S+$", f"user {getpass.getuser()}", conf, flags=re.M)
    (tmp_path / "mosquitto.conf").write_text(conf)
    broker = mosq.Mosquitto(tmp_path / "mosquitto.conf", tmp_path / "mosquitto.log")
    site.brokers.append(broker)
    broker.start()
    user, password = site.login("node-a")
    ca = site.ca_pem_from_bundle("node-a")
    assert connack("localhost", site.tls_port, ca, user, password) == "Success"
    assert connack("localhost", site.tls_port, ca, user, password + "x") == "Not authorized"


def _docker_compose():
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose(), reason="Docker Compose is not installed: the "
                    "structure test above stands in for it")
def test_docker_compose_reads_it(site):
    site.ok("broker", "config", "--compose", "--websockets", "8884")
    proc = subprocess.run(["docker", "compose", "-f", str(compose_file(site)), "config",
                           "--format", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    import json
    svc = json.loads(proc.stdout)["services"]["mosquitto"]
    assert [v["read_only"] for v in svc["volumes"] if v["target"] != "/mosquitto/data"] == [True, True]


def test_what_it_refuses(site):
    rc, out, err = site.cli("broker", "config", "--websockets", "8884")
    assert rc == 2 and "add --compose" in err
    rc, out, err = site.cli("broker", "config", "--compose", "--image", "eclipse-mosquitto:latest")
    assert rc == 2 and "pinned by tag" in err
    rc, out, err = site.cli("broker", "config", "--compose", "--websockets", str(site.tls_port))
    assert rc == 2 and "port of another listener" in err
    assert not compose_file(site).exists()


def test_the_compose_files_are_mosquittos_and_a_rabbitmq_broker_is_told_so(site):
    rc, out, err = site.cli("broker", "config", "--kind", "rabbitmq", "--compose")
    assert rc != 0 and "leave out --compose" in err and not compose_file(site).exists()
    site.ok("broker", "config", "--compose")
    # Switching a broker with Compose files to RabbitMQ says how to stop writing them.
    rc, out, err = site.cli("broker", "config", "--kind", "rabbitmq")
    assert rc != 0 and "--no-compose" in err
    site.ok("broker", "config", "--kind", "rabbitmq", "--no-compose")
    assert not compose_file(site).exists() and site.bdir.is_rabbitmq()
