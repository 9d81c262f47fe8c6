"""`check` against a real Mosquitto: the right verdict for each broken setup of the usual
troubleshooting sections of Mosquitto TLS guides, nothing wrong reported for a working one, and
nothing left behind in the device's session."""

import datetime as dt

import pytest

from host_site import Site
from host_tools import broker as mosq
from host_tools import certs, check
from host_tools.env import Settings

pytestmark = pytest.mark.broker


@pytest.fixture
def site(tmp_path, mosquitto_exe):
    s = Site(tmp_path)
    yield s
    s.stop()


def run_check(site, device, tmp_path, **kw):
    lines = []
    target = check.from_bundle(site.bundle(device), tmp_path, broker_dir=site.bdir.root,
                               host=kw.pop("host", None), port=kw.pop("port", None))
    report = check.run(target, timeout=5, out=lines.append)
    report.text = "\n".join(lines)
    return report


def fails_with(report, code):
    assert report.failures, report.text
    assert code in report.codes("fail"), report.text
    return next(f for f in report.findings if f.code == code)


def replace_broker_cert(site, **kw):
    """A broker certificate made by hand (expired, other names...), put straight into the files
    the broker serves (the tools would refuse it), served after a restart."""
    ca_cert, ca_key = site.pki.load_ca()
    key = certs.generate_key(kw.pop("key_type", "rsa"))
    cert = certs.build_leaf(ca_cert, ca_key, "localhost", key, **{
        "dns_names": ("localhost",), "ip_addresses": ("127.0.0.1",), **kw})
    certs.write_secret(site.bdir.files / "server.key", certs.key_pem(key), force=True)
    certs.write_secret(site.bdir.files / "server.crt", certs.cert_pem(cert), force=True)
    site.brokers[-1].restart()
    return cert


def test_a_working_device_passes_every_step(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    report = run_check(site, "node-a", tmp_path)
    assert report.failures == [], report.text
    for code in ("tcp", "tls", "trusted", "login", "acl_own", "acl_others", "esp8266_ok"):
        assert code in report.codes("ok"), (code, report.text)
    # The chain, its expiry and fingerprint are printed.
    fp = certs.fingerprint_sha256(site.pki.broker())
    assert f"SHA-256 {fp}" in report.text
    assert "valid until" in report.text and "localhost (RSA 2048), issued by mqtt-node CA" in report.text


def test_connection_refused(site, tmp_path):
    site.setup(devices=("node-a",))
    # No broker started.
    finding = fails_with(run_check(site, "node-a", tmp_path), "refused")
    assert "broker run" in finding.fix


def test_plain_port_given_for_tls(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    finding = fails_with(run_check(site, "node-a", tmp_path, port=site.plain_port), "not_tls")
    assert "plain MQTT" in finding.text


def test_broker_only_offering_tls13(site, tmp_path):
    site.setup(devices=("node-a",))
    conf = site.bdir.conf
    conf.write_text(conf.read_text().replace("tls_version tlsv1.2", "tls_version tlsv1.3"))
    site.start_broker()
    finding = fails_with(run_check(site, "node-a", tmp_path), "tls_version")
    assert "tls_version tlsv1.2" in finding.fix


def test_certificate_from_another_ca(site, tmp_path):
    site.setup(devices=(), monitors=())
    other = Site(tmp_path / "other")
    other.ok("certs", "ca", "--cn", "someone else's CA")
    site.ok("provision", "node-x", "--board", "unix", "--host", "localhost",
            "--ca", other.pki.ca_cert)
    site.start_broker()
    finding = fails_with(run_check(site, "node-x", tmp_path), "untrusted_ca")
    assert "mqtt-node CA" in finding.text and "someone else's CA" in finding.text
    # Nothing was sent to an untrusted broker: no login attempt reached it.
    assert "node-x" not in site.log()


def test_expired_broker_certificate(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    replace_broker_cert(site, days=30, not_before=past)
    report = run_check(site, "node-a", tmp_path)
    finding = fails_with(report, "expired")
    assert "expired on" in finding.text and "certs broker" in finding.fix


def test_certificate_for_another_name(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    replace_broker_cert(site, dns_names=("mqtt.example.org",), ip_addresses=())
    finding = fails_with(run_check(site, "node-a", tmp_path), "name_mismatch")
    assert "mqtt.example.org" in finding.text and "not for localhost" in finding.text
    assert "--dns localhost" in finding.fix


def test_wrong_password(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    cfg_path = site.bundle("node-a") / "config.json"
    cfg_path.write_text(cfg_path.read_text().replace(site.config("node-a")["mqtt"]["password"], "guess"))
    finding = fails_with(run_check(site, "node-a", tmp_path), "wrong_password")
    assert "CONNACK code 5" in finding.text


def test_user_missing_from_the_password_file(site, tmp_path):
    site.setup(devices=("node-a", "node-b"))
    users = mosq.read_password_file(site.bdir.password_file)
    del users["node-a"]
    mosq.write_hashes(site.bdir.password_file, users)
    site.start_broker()
    finding = fails_with(run_check(site, "node-a", tmp_path), "unknown_user")
    assert str(site.bdir.password_file) in finding.text


def test_broker_that_has_not_reloaded_the_password_file(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()        # not `broker run`: provisioning cannot signal it
    site.ok("provision", "node-new", "--board", "unix", "--host", "localhost")
    finding = fails_with(run_check(site, "node-new", tmp_path), "stale_password_file")
    assert "SIGHUP" in finding.fix


def test_device_missing_from_the_acl(site, tmp_path):
    site.setup(devices=("node-a", "node-b"))
    acl = site.bdir.acl_file
    text = acl.read_text()
    start = text.index("user node-a\n")
    acl.write_text(text[:start] + text[text.index("user node-b\n"):])
    site.start_broker()
    report = run_check(site, "node-a", tmp_path)
    finding = fails_with(report, "acl_denied")
    assert "write nodes/node-a/readings" in finding.text and "read nodes/node-a/cmd/" in finding.text
    assert "has no block for node-a" in finding.fix
    assert "login" in report.codes("ok")


def test_acl_that_lets_a_device_read_everything(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    report = run_check(site, "node-a", tmp_path)
    assert "acl_others" in report.codes("ok") and "acl_open" not in report.codes(), report.text
    acl = site.bdir.acl_file
    acl.write_text(acl.read_text().replace("topic read nodes/node-a/cmd/#", "topic readwrite nodes/#"))
    report = run_check(site, "node-a", tmp_path)
    finding = next(f for f in report.findings if f.code == "acl_open")
    assert finding.status == "warn" and "write nodes/node-a/cmd/host-check" in finding.text
    assert "write nodes/host-check-other/readings" in finding.text


def test_client_certificate_required_but_missing(site, tmp_path):
    site.setup(devices=(), monitors=(), mtls=True)
    site.ok("provision", "node-n", "--board", "unix", "--host", "localhost", "--no-mtls")
    site.start_broker()
    finding = fails_with(run_check(site, "node-n", tmp_path), "client_cert_required")
    assert "--mtls" in finding.fix
    # With its certificate the same device passes.
    site.ok("provision", "node-n", "--mtls")
    site.brokers[-1].restart()
    report = run_check(site, "node-n", tmp_path)
    assert report.failures == [], report.text
    assert "mtls" in report.codes("info")


def test_pin_that_no_longer_matches(site, tmp_path):
    site.setup(devices=(), monitors=())
    # The board reaches the broker as broker.test; this check reaches it on loopback.
    site.ok("provision", "esp-a", "--board", "esp8266", "--host", "broker.test", "--wifi-ssid", "lab",
            env={"WIFI_PASSWORD": "lab-password"})
    site.start_broker()
    report = run_check(site, "esp-a", tmp_path, host="127.0.0.1")
    assert report.failures == [], report.text
    assert "AES" in next(f.text for f in report.findings if f.code == "tls")   # axTLS's suites
    replace_broker_cert(site)
    finding = fails_with(run_check(site, "esp-a", tmp_path, host="127.0.0.1"), "pin_mismatch")
    assert "provision the device again" in finding.fix


def test_ec_broker_key_locks_out_esp8266(site, tmp_path):
    site.setup(devices=("node-a",), broker_key="ec")
    site.start_broker()
    report = run_check(site, "node-a", tmp_path)
    # An ESP32 device is fine; the report still says an ESP8266 could not connect, and why.
    assert report.failures == [], report.text
    assert "esp8266_no" in report.codes("warn")
    finding = next(f for f in report.findings if f.code == "esp8266_no")
    assert "EC" in finding.text and "RSA key exchange" in finding.text


def test_certificate_expiring_soon_is_a_warning(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    replace_broker_cert(site, days=10)
    report = run_check(site, "node-a", tmp_path)
    assert report.failures == [], report.text
    assert "expires_soon" in report.codes("warn")


def test_check_from_environment_settings(site, tmp_path):
    """Without --device: the MQTT_* settings, as a back end would connect."""
    site.setup(devices=(), monitors=("monitor",))
    site.start_broker()
    user, password = site.login("monitor")
    settings = Settings(host="localhost", port=site.tls_port, use_tls=True,
                        ca_certs=str(site.pki.ca_cert), username=user, password=password)
    report = check.run(check.from_settings(settings, broker_dir=site.bdir.root), out=lambda s: None)
    assert report.failures == [] and "login" in report.codes("ok")
    settings.ca_certs = None        # the system's CAs do not know our private CA
    report = check.run(check.from_settings(settings, broker_dir=site.bdir.root), out=lambda s: None)
    assert "untrusted_ca" in report.codes("fail")
    assert "MQTT_TLS_INSECURE=true is no fix" in report.failures[0].fix


def test_cli_exit_status_and_one_line_error(site, tmp_path):
    site.setup(devices=("node-a",))
    site.start_broker()
    rc, out, err = site.cli("check", "--device", "node-a")
    assert rc == 0 and "check: all good" in out, out + err
    rc, out, err = site.cli("check", "--device", "node-a", "--port", site.plain_port)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("host_tools: check failed: ")
    assert "Traceback" not in out + err
    # The password is never printed.
    assert site.config("node-a")["mqtt"]["password"] not in out + err


def test_a_back_end_checks_with_the_env_file_broker_user_wrote(site, tmp_path):
    site.setup(devices=(), monitors=("collector",))
    env_file = site.root / "build" / "users" / "collector.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    site.start_broker()
    rc, out, err = site.cli("--env-file", env_file, "check")
    assert rc == 0, out + err
    assert "logged in as collector" in out and "check: all good" in out
    assert site.login("collector")[1] not in out + err


def test_check_leaves_the_device_session_as_it_was(site, tmp_path):
    """The device's persistent session keeps its subscription and the command queued in it,
    and gets no message of the check's: the node would answer "unknown command"."""
    site.setup(devices=("node-a",))
    site.start_broker()
    with site.client("node-a", client_id="node-a", clean=False) as node:
        assert node.connect() == "Success"
        node.subscribe("nodes/node-a/cmd/#")
    with site.client("monitor", client_id="monitor") as backend:
        backend.connect()
        backend.publish("nodes/node-a/cmd/reboot", b"queued while the node sleeps")
    report = run_check(site, "node-a", tmp_path)
    assert report.failures == [], report.text
    assert "the login's persistent session is there" in report.text
    with site.client("node-a", client_id="node-a", clean=False) as node:
        assert node.connect() == "Success" and node.session_present is True
        assert node.wait_for(lambda ms: ms)
        # Only the command, and again when a connection drops before the node's PUBACK.
        assert node.payloads() == [b"queued while the node sleeps"]
        with site.client("monitor", client_id="monitor") as backend:
            backend.connect()
            backend.publish("nodes/node-a/cmd/sync", b"marker")
        assert node.wait_for(lambda ms: len(ms) == 2)
        assert node.payloads() == [b"queued while the node sleeps", b"marker"]


def test_check_opens_no_session_for_a_device_that_had_none(site, tmp_path):
    """A session left behind would tell the node its command subscription is there."""
    site.setup(devices=("node-a",))
    site.start_broker()
    report = run_check(site, "node-a", tmp_path)
    assert report.failures == [] and "was removed again" in report.text, report.text
    with site.client("node-a", client_id="node-a", clean=False) as node:
        assert node.connect() == "Success" and node.session_present is False


def test_check_says_when_the_running_broker_has_not_read_a_change(site, tmp_path):
    from host_site import broker_run
    site.setup(devices=("node-a",))
    with broker_run(site):
        assert "not_reloaded" not in run_check(site, "node-a", tmp_path).codes()
        site.ok("broker", "config", "--max-packet-size", "8192")     # read only at a restart
        report = run_check(site, "node-a", tmp_path)
        finding = next(f for f in report.findings if f.code == "not_reloaded")
        assert "has not read 1 change(s): broker config" in finding.text and "kill -HUP" in finding.fix


def test_a_revoked_client_certificate_is_named(site, tmp_path):
    site.setup(devices=(), monitors=(), mtls=True)
    site.ok("provision", "node-m", "--board", "unix", "--host", "localhost")
    keep = tmp_path / "node-m-bundle"
    import shutil
    shutil.copytree(site.bundle("node-m"), keep)
    site.ok("revoke", "node-m")
    site.start_broker()
    target = check.from_bundle(keep, tmp_path, broker_dir=site.bdir.root, pki=site.pki)
    lines = []
    report = check.run(target, timeout=5, out=lines.append)
    finding = fails_with(report, "client_cert_rejected")
    assert "revocation list" in finding.text, "\n".join(lines)
