"""A real Mosquitto on the files `certs`, `broker config`, `provision`, `broker user` and `revoke`
wrote: what the config says, who can log in, and a running broker that follows each change."""

import getpass
import json
import os
import socket
import ssl
import subprocess

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


def test_generated_config_for_the_broker_host_and_for_a_run_here(site):
    site.setup(devices=("node-a",))
    files = "/etc/mosquitto/mqtt-node"
    snippet = site.bdir.snippet.read_text()
    for line in ("per_listener_settings false", "allow_anonymous false", "user mosquitto",
                 "max_packet_size 4096", f"listener {site.tls_port} 127.0.0.1\n",
                 "use_username_as_clientid true", "tls_version tlsv1.2", "require_certificate false",
                 f"password_file {files}/passwd", f"acl_file {files}/acl",
                 f"certfile {files}/server.crt", f"keyfile {files}/server.key",
                 f"listener {site.plain_port} 127.0.0.1", "set_tcp_nodelay true"):
        assert line in snippet, line
    # No client certificates to check (no --mtls): no cafile, so Mosquitto sends its own
    # certificate alone, not the CA with it (which an ESP8266 would parse for nothing).
    assert "cafile" not in snippet, snippet
    # The host keeps its own pid file, persistence and logging (Debian's mosquitto.conf).
    settings = "\n".join(line for line in snippet.splitlines() if not line.startswith("#"))
    for word in ("persistence", "log_dest", "pid_file", str(site.root)):
        assert word not in settings, word
    # The same settings for `broker run` here: paths into build/broker/, persistence, a log.
    run = site.bdir.conf.read_text()
    here = site.bdir.root.resolve()
    for line in (f"password_file {here}/mqtt-node/passwd", f"keyfile {here}/mqtt-node/server.key",
                 "persistence true", f"log_dest file {site.bdir.log_file.resolve()}",
                 f"user {getpass.getuser()}", "use_username_as_clientid true", "max_packet_size 4096"):
        assert line in run, line
    for path in [site.pki.ca_key, site.pki.broker_key, site.bundle("node-a") / "config.json"] \
            + sorted(site.bdir.files.iterdir()):
        assert os.stat(path).st_mode & 0o777 == 0o600, path
    assert os.stat(site.bdir.files).st_mode & 0o777 == 0o700
    assert site.bdir.password_file.read_text().startswith("node-a:$7$101$")
    assert ("user node-a\ntopic write nodes/node-a/readings\ntopic write nodes/node-a/status\n"
            "topic write nodes/node-a/stats\ntopic write nodes/node-a/reply\n"
            "topic write homeassistant/sensor/node-a/#\n"
            "topic read nodes/node-a/cmd/#\n") in site.bdir.acl_file.read_text()


def test_bind_address_prefix_and_packet_size_are_options(site):
    site.setup(devices=(), monitors=())
    site.ok("broker", "config", "--bind", "0.0.0.0", "--prefix", "/srv/mqtt", "--max-packet-size", "8192")
    snippet = site.bdir.snippet.read_text()
    assert f"listener {site.tls_port} 0.0.0.0" in snippet and "max_packet_size 8192" in snippet
    assert "password_file /srv/mqtt/mqtt-node/passwd" in snippet
    rc, _, err = site.cli("broker", "config", "--prefix", "etc/mosquitto")
    assert rc == 2 and "not an absolute path" in err
    rc, _, err = site.cli("broker", "config", "--bind", "broker.lan")
    assert rc == 2 and "not an IP address" in err


def test_without_a_bind_address_the_listener_takes_the_certificates_one_address(site):
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "broker.lan", "--ip", "192.168.1.10")
    site.ok("broker", "config")
    assert "listener 8883 192.168.1.10\n" in site.bdir.snippet.read_text()
    other = Site(site.root / "other")
    other.ok("certs", "ca")
    other.ok("certs", "broker", "--dns", "broker.lan")
    rc, _, err = other.cli("broker", "config")
    assert rc == 2 and "--bind ADDRESS" in err and "0.0.0.0 for every interface" in err


def test_no_plain_listener_without_dev_and_mtls_requires_certificates_and_checks_the_crl(site):
    site.setup(devices=())
    site.ok("broker", "config", "--mtls")
    snippet = site.bdir.snippet.read_text()
    assert "require_certificate true" in snippet and "crlfile /etc/mosquitto/mqtt-node/crl.pem" in snippet
    assert f"listener {site.plain_port}" not in snippet
    assert (site.bdir.files / "crl.pem").exists()
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
    """The unix-port firmware reads the bundle `provision` wrote and publishes over TLS, within
    the device's ACL and with its client id bound to its login."""
    site.setup(devices=("node-a",))
    site.start_broker()
    mon_user, mon_password = site.login("monitor")
    with Monitor("localhost", site.tls_port, site.pki.ca_cert, mon_user, mon_password) as mon:
        proc = unixport.run([str(unixport.FIRMWARE / "main.py")],
                            env={"NODE_DIR": str(site.bundle("node-a"))}, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert mon.wait_for(lambda ms: any(m.topic.endswith("/readings") for m in ms), 10), site.log()
    assert {m.topic for m in mon.messages} <= {"nodes/node-a/readings", "nodes/node-a/status",
                                               "nodes/node-a/stats"}


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


def test_esp8266_handshake_succeeds_against_the_default_broker_certificate(site):
    """What axTLS offers: TLS 1.2 and RSA key exchange suites only."""
    site.setup(devices=(), monitors=())
    site.start_broker()
    assert certs.key_description(site.pki.broker().public_key()) == "RSA 2048"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(str(site.pki.ca_cert))
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
    with socket.create_connection(("localhost", site.tls_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_broker_run_follows_every_change_from_relative_paths(site):
    """`broker run` and the commands after it with the default relative folders (certs/,
    build/): each change that needs it reaches the running broker at once."""
    site.setup(devices=("node-a",))
    env = {"cwd": site.root}
    with broker_run(site, relative=True) as proc:
        assert site.bdir.running_pid()
        out = site.ok("provision", "node-late", "--board", "unix", "--host", "localhost", **env)
        assert "the running broker (pid" in out
        ca = site.ca_pem_from_bundle("node-late")
        assert connack("localhost", site.tls_port, ca, *site.login("node-late")) == "Success", site.log()
        out = site.ok("broker", "user", "collector", **env)
        assert "the running broker (pid" in out
        assert connack("localhost", site.tls_port, ca, *site.login("collector")) == "Success"
        credentials = site.login("node-late")
        out = site.ok("revoke", "node-late", **env)
        assert "the running broker (pid" in out
        assert connack("localhost", site.tls_port, ca, *credentials) == "Not authorized"
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
        assert "the running broker (pid" in out
        assert device_check() == "the certificate matches pin 2 of 2"
        site.ok("provision", "--all")
        assert device_check() == "the certificate matches pin 1 of 1"
        served = certs.fingerprint_sha256(site.pki.broker())
        assert site.config("esp-a")["tls"]["pins"] == [served]


def test_revoked_device_with_a_client_certificate_is_refused_in_the_handshake(site):
    """Its login and its certificate: the broker checks the CRL `revoke` signed."""
    site.setup(devices=(), monitors=(), mtls=True)
    for device in ("node-m", "node-n"):
        site.ok("provision", device, "--board", "unix", "--host", "localhost")
    keys = {}
    for device in ("node-m", "node-n"):
        bundle = site.bundle(device)
        cert_pem, key_pem = site.root / f"{device}.pem", site.root / f"{device}.key"
        cert_pem.write_bytes(certs.cert_pem(certs.load_cert(bundle / "client.der")))
        certs.write_secret(key_pem, certs.key_pem(certs.load_key(bundle / "client.key.der")))
        keys[device] = (site.login(device), cert_pem, key_pem)
    ca = site.pki.ca_cert
    with broker_run(site):
        for device in ("node-m", "node-n"):
            login, cert_pem, key_pem = keys[device]
            assert connack("localhost", site.tls_port, ca, *login, cert_pem, key_pem) == "Success"
        site.ok("revoke", "node-m")
        login, cert_pem, key_pem = keys["node-m"]
        # With another login's password, too: the certificate itself is refused.
        other_login = keys["node-n"][0]
        for user, password in (login, other_login):
            assert connack("localhost", site.tls_port, ca, user, password, cert_pem,
                           key_pem).startswith("closed"), site.log()
        login, cert_pem, key_pem = keys["node-n"]
        assert connack("localhost", site.tls_port, ca, *login, cert_pem, key_pem) == "Success"
    assert "certificate verify failed" in site.log()


def test_logins_and_rules_added_by_hand_survive_the_tools(site):
    """A back end added with mosquitto_passwd and an ACL block written above the tools' part."""
    site.setup(devices=("node-a",), monitors=())
    subprocess.run(["mosquitto_passwd", "-b", str(site.bdir.password_file), "grafana", "by-hand-pw"],
                   check=True, timeout=30)
    acl = site.bdir.acl_file
    acl.write_text("user grafana\ntopic read nodes/+/readings\n\n" + acl.read_text())
    site.ok("provision", "node-b", "--board", "unix", "--host", "localhost")
    site.ok("broker", "user", "monitor")
    site.ok("revoke", "node-a")
    assert "grafana:" in site.bdir.password_file.read_text()
    assert acl.read_text().startswith("user grafana\ntopic read nodes/+/readings\n")
    rc, _, err = site.cli("broker", "user", "grafana")
    assert rc == 2 and "not added by host_tools" in err
    rc, _, err = site.cli("provision", "grafana", "--board", "unix", "--host", "localhost")
    assert rc == 2 and "not added by host_tools" in err and not site.bundle("grafana").exists()
    site.start_broker()
    ca = site.pki.ca_cert
    with site.client("node-b", client_id="node-b") as b, \
            Monitor("localhost", site.tls_port, ca, "grafana", "by-hand-pw") as grafana:
        b.connect()
        b.publish("nodes/node-b/readings", b"reading")
        assert grafana.wait_count(1, timeout=10)
    assert [m.topic for m in grafana.messages] == ["nodes/node-b/readings"]


def test_broker_run_says_when_the_port_is_taken(site):
    site.setup(devices=(), monitors=())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", site.tls_port))
        holder.listen(1)
        rc, out, err = site.cli("broker", "run")
    assert rc == 2
    assert f"port {site.tls_port}" in err and "in use" in err and "systemctl stop mosquitto" in err


def test_a_loosened_key_is_refused_not_worked_around(site):
    """A guide's `chmod 644 server.key` for a container: refused with the fix."""
    site.setup(devices=(), monitors=())
    site.pki.broker_key.chmod(0o644)
    for args in (("broker", "config"), ("broker", "run"), ("broker", "install", "--tarball", "x.tgz")):
        rc, _, err = site.cli(*args)
        assert rc == 2
        assert "readable by others (mode 0644)" in err and f"chmod 600 {site.pki.broker_key}" in err
    assert site.pki.broker_key.stat().st_mode & 0o777 == 0o644       # reported, never changed
