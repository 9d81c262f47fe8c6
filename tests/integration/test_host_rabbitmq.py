"""The host tools for RabbitMQ, end to end: `broker config --kind rabbitmq` writes the files, a
real RabbitMQ node boots from them as written, `provision` adds devices (loaded with
`rabbitmqctl import_definitions`, as on a broker host), `check` passes against it and fails
where it should, a provisioned node delivers through it; `check` tries each broker a device
lists."""

import json

import pytest

from host_site import Site
from host_tools.broker.process import free_port
from host_tools.broker.rabbitnode import Home, RabbitNode, find_rabbitmq
from host_tools.errors import UserError
from host_tools.sim.simnode import SimNode

from harness.rabbitmq import wait_port


@pytest.fixture(scope="module")
def rabbit_site(tmp_path_factory):
    try:
        find_rabbitmq()
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    s = Site(tmp_path_factory.mktemp("rabbit-site"))
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "localhost", "--ip", "127.0.0.1")
    s.tls_port = free_port()
    rabbit_dir = s.bdir.rabbit_dir
    # --prefix: the config names the files where they are here, as /etc/rabbitmq on a host.
    s.out = s.ok("broker", "config", "--kind", "rabbitmq", "--port", s.tls_port,
                 "--bind", "127.0.0.1", "--prefix", rabbit_dir)
    s.ok("provision", "node-a", "--board", "unix", "--host", "localhost")
    s.ok("broker", "user", "monitor", "--role", "monitor")
    home = Home(s.root / "rabbit-home")
    s.rabbit = RabbitNode(home, s.root / "rabbit-node", "hostrabbit", rabbit_dir / "rabbitmq.conf",
                          rabbit_dir / "enabled_plugins")
    try:
        s.rabbit.start()
        wait_port(s.tls_port)
        yield s
    finally:
        s.rabbit.stop()
        home.stop()


def test_broker_config_writes_what_a_rabbitmq_admin_loads(rabbit_site):
    r = rabbit_site.bdir.rabbit_dir
    conf = (r / "rabbitmq.conf").read_text()
    assert "mqtt.allow_anonymous = false" in conf and "listeners.tcp = none" in conf
    assert f"mqtt.listeners.ssl.default = 127.0.0.1:{rabbit_site.tls_port}" in conf
    assert "load_definitions" in conf and "ssl_options.ciphers" in conf
    assert (r / "enabled_plugins").read_text() == "[rabbitmq_mqtt].\n"
    for f in (r / "mqtt-node").iterdir():
        assert f.stat().st_mode & 0o077 == 0, f"{f} is private"
    assert "no guest or anonymous login" in rabbit_site.out
    users = rabbit_site.rabbit.ctl("list_users").stdout
    assert "node-a" in users and "monitor" in users and "guest" not in users


def test_check_passes_against_rabbitmq_and_a_provisioned_node_delivers(rabbit_site):
    out = rabbit_site.ok("check", "--device", "node-a")
    assert "check: all good" in out, out
    assert "lets node-a write its" in out and "nothing of another node's topics" in out, out
    node = SimNode(rabbit_site.bundle("node-a"))
    w = node.wake()
    assert w.outcome == "slept" and "(buffered 0 in flash, 0 in RTC memory)" in w.output, w.output
    assert "delivery failed" not in w.output and "command subscription" not in w.output


def test_provision_adds_a_device_that_rabbitmq_takes_once_it_imports_the_definitions(rabbit_site):
    s = rabbit_site
    s.ok("provision", "node-b", "--board", "unix", "--host", "localhost")
    rc, out, err = s.cli("check", "--device", "node-b")
    assert rc != 0 and "refused the login of node-b" in out + err, out + err
    s.rabbit.ctl("import_definitions", str(s.bdir.definitions_file))
    out = s.ok("check", "--device", "node-b")
    assert "check: all good" in out, out
    defs = json.loads(s.bdir.definitions_file.read_text())
    assert {u["name"] for u in defs["users"]} == {"node-a", "node-b", "monitor"}


def test_check_finds_a_device_whose_topic_permissions_are_wrong(rabbit_site):
    s = rabbit_site
    perm = next(p for p in json.loads(s.bdir.definitions_file.read_text())["topic_permissions"]
                if p["user"] == "node-a")
    defs_file = s.bdir.definitions_file
    saved = defs_file.read_text()
    defs = json.loads(saved)
    for p in defs["topic_permissions"]:
        if p["user"] == "node-a":
            p["read"] = ".*"             # reads every node's topics
    defs_file.write_text(json.dumps(defs))
    try:
        rc, out, err = s.cli("check", "--device", "node-a")
        assert "the ACL also lets node-a read nodes/host-check-other/cmd/host-check" in out, out
    finally:
        defs_file.write_text(saved)
    assert perm["read"].startswith("^nodes\\.node\\-a\\.cmd")


def test_check_tries_each_broker_the_device_lists(rabbit_site):
    s = rabbit_site
    down = free_port()
    s.ok("provision", "node-a", "--also-host", f"127.0.0.1:{down}", "--also-host",
         f"localhost:{s.tls_port}")
    cfg = s.config("node-a")
    assert cfg["mqtt"]["hosts"] == [{"host": "localhost", "port": s.tls_port},
                                    {"host": "127.0.0.1", "port": down},
                                    {"host": "localhost", "port": s.tls_port}]
    rc, out, err = s.cli("check", "--device", "node-a")
    assert rc != 0, out
    assert "check: broker 1 of 3" in out and "check: broker 3 of 3" in out, out
    assert f"check failed for 1 of 3 brokers: 127.0.0.1:{down}" in err, err
    s.ok("provision", "node-a", "--also-host", "")
    assert "hosts" not in s.config("node-a")["mqtt"]
