"""A real Mosquitto on the files `certs`, `broker config` and `provision` wrote."""

import json
import os
import ssl

import pytest

from host_site import Site, broker_run, connack
from host_tools import certs, unixport
from host_tools.check import tlswire
from host_tools.monitor import Monitor

pytestmark = pytest.mark.broker


@pytest.fixture
def site(tmp_path, mosquitto_exe, request):
    s = Site(tmp_path)
    request.node._host_site = s
    yield s
    s.stop()


def test_generated_config_says_what_the_issue_asks(site):
    site.setup(devices=("node-a",))
    conf = site.bdir.conf.read_text()
    for line in ("allow_anonymous false", f"listener {site.tls_port}\n", "tls_version tlsv1.2",
                 "require_certificate false", f"listener {site.plain_port} 127.0.0.1",
                 "persistence true", "set_tcp_nodelay true", f"password_file {site.bdir.password_file}",
                 f"acl_file {site.bdir.acl_file}"):
        assert line in conf, line
    # Mosquitto started as root would drop to `mosquitto`, which cannot read keys kept 0600.
    import getpass
    assert f"user {getpass.getuser()}" in conf
    for key in (site.pki.ca_key, site.pki.broker_key, site.bdir.password_file,
                site.bundle("node-a") / "config.json"):
        assert os.stat(key).st_mode & 0o777 == 0o600, key
    assert site.bdir.password_file.read_text().startswith("node-a:$7$101$")
    acl = site.bdir.acl_file.read_text()
    assert "user node-a\ntopic write nodes/node-a/#\ntopic read nodes/node-a/cmd/#" in acl


def test_no_plain_listener_without_dev_and_mtls_requires_certificates(site):
    site.setup(devices=())
    site.ok("broker", "config", "--mtls")
    conf = site.bdir.conf.read_text()
    assert "require_certificate true" in conf
    assert f"listener {site.plain_port}" not in conf and "127.0.0.1\nprotocol" not in conf
    # The settings persist: provisioning now gives devices a client certificate.
    site.ok("provision", "node-m", "--board", "unix", "--host", "localhost")
    assert json.loads((site.bundle("node-m") / "config.json").read_text())["tls"]["cert"] == "client.der"


def test_provisioned_device_connects_over_tls_with_its_password(site):
    site.setup()
    site.start_broker()
    user, password = site.login("node-a")
    ca = site.ca_pem_from_bundle("node-a")
    assert connack("localhost", site.tls_port, ca, user, password) == "Success"
    assert connack("localhost", site.tls_port, ca, user, password + "x") == "Not authorized"
    assert connack("localhost", site.tls_port, ca, "node-c", password) == "Not authorized"


def test_firmware_runs_on_a_provisioned_bundle(site):
    """The unix-port firmware reads the bundle `provision` wrote and publishes over TLS."""
    site.setup(devices=("node-a",))
    site.start_broker()
    mon_user, mon_password = site.login("monitor")
    with Monitor("localhost", site.tls_port, site.pki.ca_cert, mon_user, mon_password) as mon:
        proc = unixport.run([str(unixport.FIRMWARE / "main.py")],
                            env={"NODE_DIR": str(site.bundle("node-a"))}, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert mon.wait_count(1, timeout=10), site.log()
    assert mon.messages[0].topic == "nodes/node-a/readings"


def test_mutual_tls_device_connects_with_its_certificate_and_not_without(site):
    site.setup(devices=(), monitors=(), mtls=True)
    site.ok("provision", "node-m", "--board", "unix", "--host", "localhost")
    site.start_broker()
    bundle = site.bundle("node-m")
    cert_pem, key_pem = site.root / "c.pem", site.root / "k.pem"
    cert_pem.write_bytes(certs.cert_pem(certs.load_cert(bundle / "client.der")))
    certs.write_secret(key_pem, certs.key_pem(certs.load_key(bundle / "client.key.der")))
    assert os.stat(bundle / "client.key.der").st_mode & 0o777 == 0o600
    user, password = site.login("node-m")
    ca = site.ca_pem_from_bundle("node-m")
    assert connack("localhost", site.tls_port, ca, user, password, cert_pem, key_pem) == "Success"
    assert connack("localhost", site.tls_port, ca, user, password).startswith("closed")


def test_devices_cannot_touch_each_others_topics(site):
    site.setup()
    site.start_broker()
    host, port, ca = "localhost", site.tls_port, site.pki.ca_cert
    a = Monitor(host, port, ca, *site.login("node-a"), topics=("nodes/node-a/cmd/#",), client_id="a").start()
    b = Monitor(host, port, ca, *site.login("node-b"),
                topics=("nodes/node-a/#", "nodes/node-b/cmd/#"), client_id="b").start()
    mon = Monitor(host, port, ca, *site.login("monitor"), topics=("nodes/#",), client_id="m").start()
    try:
        # node-b writes a command for node-a: the broker acks it (MQTT 3.1.1) but drops it.
        b.client.publish("nodes/node-a/cmd/reboot", b"from-b", qos=1).wait_for_publish(5)
        # The back end's command for node-a comes after it; node-a gets only that one.
        mon.client.publish("nodes/node-a/cmd/reboot", b"from-monitor", qos=1).wait_for_publish(5)
        assert a.wait_count(1, timeout=10)
        assert [m.payload for m in a.messages] == [b"from-monitor"]
        # node-a's reading reaches the back end, and not node-b, who subscribed to nodes/node-a/#.
        a.client.publish("nodes/node-a/readings", b"reading", qos=1).wait_for_publish(5)
        assert mon.wait_for(lambda ms: any(m.payload == b"reading" for m in ms), 10)
        mon.client.publish("nodes/node-b/cmd/sync", b"marker", qos=1).wait_for_publish(5)
        assert b.wait_count(1, timeout=10)
        assert [m.payload for m in b.messages] == [b"marker"]
    finally:
        for c in (a, b, mon):
            c.stop()


def test_esp8266_handshake_succeeds_against_the_default_broker_certificate(site):
    """What axTLS offers: TLS 1.2 and RSA key exchange suites only."""
    site.setup(devices=(), monitors=())
    site.start_broker()
    assert certs.key_description(site.pki.broker().public_key()) == "RSA 2048"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(tlswire.AXTLS_CIPHERS)
    ctx.load_verify_locations(str(site.pki.ca_cert))
    import socket
    for suite in tlswire.AXTLS_SUITES.values():
        ctx.set_ciphers(suite)
        with socket.create_connection(("localhost", site.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version() == "TLSv1.2" and tls.cipher()[0] == suite


def test_ec_broker_certificate_cannot_serve_an_esp8266(site):
    site.setup(devices=(), monitors=(), broker_key="ec")
    site.start_broker()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(tlswire.AXTLS_CIPHERS)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    import socket
    with socket.create_connection(("localhost", site.tls_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_broker_run_in_the_foreground_reloads_on_provisioning(site):
    """`broker run` prints Mosquitto's log, writes its pid so `provision` can make it re-read the
    password file, and stops Mosquitto on SIGTERM."""
    site.setup(devices=("node-a",))
    with broker_run(site) as proc:
        assert site.bdir.running_pid()
        # A device provisioned now can log in at once: provisioning sent SIGHUP.
        out = site.ok("provision", "node-late", "--board", "unix", "--host", "localhost")
        assert "reloaded" in out
        ca = site.ca_pem_from_bundle("node-late")
        assert connack("localhost", site.tls_port, ca, *site.login("node-late")) == "Success", site.log()
    assert proc.returncode == 0, proc.output
    assert "stopping Mosquitto" in proc.output
    assert not site.bdir.pid_file.exists()


def test_rotation_with_a_running_broker_never_locks_a_device_out(site, tmp_path):
    """An ESP8266 pinning its broker: before, during and after the rotation its check passes."""
    from host_tools import check
    site.setup(devices=(), monitors=())
    site.ok("provision", "esp-a", "--board", "esp8266", "--host", "broker.test", "--wifi-ssid", "lab",
            env={"WIFI_PASSWORD": "lab-password"})

    def device_check():
        target = check.from_bundle(site.bundle("esp-a"), tmp_path, host="127.0.0.1",
                                   broker_dir=site.bdir.root)
        report = check.run(target, out=lambda line: None)
        assert report.failures == [], [f.text for f in report.failures]
        return next(f.text for f in report.findings if f.code == "pinned")

    with broker_run(site):
        assert device_check() == "the certificate matches pin 1 of 1"
        site.ok("certs", "broker", "--next")
        site.ok("provision", "--all")          # the bundle copied to the board now pins both
        assert device_check() == "the certificate matches pin 1 of 2"
        out = site.ok("certs", "broker", "--promote")
        assert "now serves it" in out
        assert device_check() == "the certificate matches pin 2 of 2"
        site.ok("provision", "--all")
        assert device_check() == "the certificate matches pin 1 of 1"
        served = certs.fingerprint_sha256(site.pki.broker())
        assert site.config("esp-a")["tls"]["pins"] == [served]


def test_broker_run_says_when_the_port_is_taken(site):
    site.setup(devices=(), monitors=())
    import socket
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", site.tls_port))
        holder.listen(1)
        rc, out, err = site.cli("broker", "run")
    assert rc == 2
    assert f"port {site.tls_port}" in err and "in use" in err and "systemctl stop mosquitto" in err


def test_a_loosened_key_is_refused_not_worked_around(site):
    """The seeds' `chmod 644 server.key` for a container: refused with the fix."""
    site.setup(devices=(), monitors=())
    site.pki.broker_key.chmod(0o644)
    for args in (("broker", "config"), ("broker", "run")):
        rc, _, err = site.cli(*args)
        assert rc == 2
        assert "readable by others (mode 0644)" in err and f"chmod 600 {site.pki.broker_key}" in err
    assert site.pki.broker_key.stat().st_mode & 0o777 == 0o644       # reported, never changed
