"""`certs`: CA, broker and device certificates, `certs show`, and the broker's rotation."""

import datetime as dt
import os
import subprocess
import sys

import pytest

from integration.host_site import Site
from host_tools import certs


@pytest.fixture
def site(tmp_path):
    return Site(tmp_path)


def mode(path):
    return os.stat(path).st_mode & 0o777


def test_ca_and_broker_certificate_with_the_names_given(site):
    site.ok("certs", "ca")
    out = site.ok("certs", "broker", "--dns", "broker.lan", "--dns", "mqtt.local",
                  "--ip", "192.168.1.10", "--ip", "127.0.0.1")
    pki = site.pki
    cert = pki.broker()
    assert certs.subject_alt_names(cert) == ["broker.lan", "mqtt.local", "192.168.1.10", "127.0.0.1"]
    assert certs.key_description(cert.public_key()) == "RSA 2048"      # what an ESP8266 needs
    assert certs.fingerprint_sha256(cert) in out
    assert mode(pki.ca_key) == 0o600 and mode(pki.broker_key) == 0o600
    assert mode(pki.ca_cert) == 0o644 and mode(pki.ca_der) == 0o644
    assert certs.load_cert(pki.ca_der).subject == certs.load_cert(pki.ca_cert).subject


def test_broker_needs_names(site):
    site.ok("certs", "ca")
    rc, out, err = site.cli("certs", "broker")
    assert rc == 2 and "--dns NAME" in err


def test_keys_are_never_overwritten_without_force(site):
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "b.lan")
    ca_key, broker_key = site.pki.ca_key.read_bytes(), site.pki.broker_key.read_bytes()
    rc, _, err = site.cli("certs", "ca")
    assert rc == 2 and "--force" in err
    rc, _, err = site.cli("certs", "broker", "--dns", "b.lan")
    assert rc == 2 and "--force" in err and "--next" in err
    assert site.pki.ca_key.read_bytes() == ca_key and site.pki.broker_key.read_bytes() == broker_key
    site.ok("certs", "broker", "--dns", "b.lan", "--force")
    assert site.pki.broker_key.read_bytes() != broker_key
    assert mode(site.pki.broker_key) == 0o600


def test_device_certificate_for_mutual_tls(site):
    site.ok("certs", "ca")
    site.ok("certs", "device", "node-1")
    cert = certs.load_cert(site.pki.device_cert("node-1"))
    assert certs.common_name(cert.subject) == "node-1"
    assert mode(site.pki.device_key("node-1")) == 0o600
    rc, _, err = site.cli("certs", "device", "node-1")
    assert rc == 2 and "--force" in err
    rc, _, err = site.cli("certs", "device", "bad/name")
    assert rc == 2 and "cannot be used" in err


def test_show_prints_subject_names_expiry_fingerprint(site):
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "b.lan", "--ip", "10.0.0.2")
    rc, out, err = site.cli("certs", "show")
    assert rc == 0 and err == ""
    assert "CA: " in out and "broker: " in out
    assert "subject   b.lan (RSA 2048), issued by mqtt-node CA" in out
    assert "names     b.lan, 10.0.0.2" in out
    assert "in 824 days" in out
    assert f"SHA-256   {certs.fingerprint_sha256(site.pki.broker())}" in out


def test_show_warns_within_30_days_and_fails_when_expired(site, tmp_path):
    site.ok("certs", "ca")
    ca_cert, ca_key = site.pki.load_ca()
    soon = certs.build_leaf(ca_cert, ca_key, "soon", certs.generate_key("ec"), dns_names=["soon"], days=20)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    old = certs.build_leaf(ca_cert, ca_key, "old", certs.generate_key("ec"), dns_names=["old"],
                           days=5, not_before=past)
    (tmp_path / "soon.crt").write_bytes(certs.cert_pem(soon))
    (tmp_path / "old.crt").write_bytes(certs.cert_der(old))
    rc, out, err = site.cli("certs", "show", tmp_path / "soon.crt")
    assert rc == 0
    assert "WARNING   expires in 19 days (within 30)" in out or "WARNING   expires in 20 days (within 30)" in out
    assert "warning: 1 certificate(s) expire within 30 days" in err
    rc, out, err = site.cli("certs", "show", tmp_path / "old.crt", "--warn-days", "10")
    assert rc == 1 and "EXPIRED on" in out


def test_rotation_keeps_devices_working(site):
    """--next issues the next certificate, provisioning pins both, --promote serves it."""
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "b.lan", "--ip", "10.0.0.2")
    site.ok("provision", "esp-1", "--board", "esp8266", "--host", "10.0.0.2", "--wifi-ssid", "lab",
            env={"WIFI_PASSWORD": "lab-password"})
    first = certs.fingerprint_sha256(site.pki.broker())
    assert site.config("esp-1")["tls"]["pins"] == [first]

    out = site.ok("certs", "broker", "--next")
    nxt = site.pki.next_broker()
    assert certs.subject_alt_names(nxt) == ["b.lan", "10.0.0.2"]      # the same names by default
    assert mode(site.pki.next_key) == 0o600
    assert "provision --all" in out and "--promote" in out
    site.ok("provision", "--all")
    second = certs.fingerprint_sha256(nxt)
    assert site.config("esp-1")["tls"]["pins"] == [first, second]

    site.ok("certs", "broker", "--promote")
    assert certs.fingerprint_sha256(site.pki.broker()) == second
    assert certs.fingerprint_sha256(certs.load_cert(site.pki.prev_cert)) == first
    assert not site.pki.next_cert.exists() and mode(site.pki.broker_key) == 0o600
    site.ok("provision", "--all")
    assert site.config("esp-1")["tls"]["pins"] == [second]
    # A second rotation keeps the previous key unless told to drop it.
    site.ok("certs", "broker", "--next")
    rc, _, err = site.cli("certs", "broker", "--promote")
    assert rc == 2 and "broker-prev.key exists" in err
    site.ok("certs", "broker", "--promote", "--force")


def test_promote_without_next(site):
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "b.lan")
    rc, _, err = site.cli("certs", "broker", "--promote")
    assert rc == 2 and "certs broker --next" in err


def test_ec_broker_key_refused_when_an_esp8266_is_provisioned(site):
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "b.lan")
    site.ok("provision", "esp-1", "--board", "esp8266", "--host", "b.lan", "--wifi-ssid", "lab",
            "--open-wifi")
    for args in (("--force",), ("--next",)):
        rc, _, err = site.cli("certs", "broker", "--dns", "b.lan", "--key-type", "ec", *args)
        assert rc == 2, err
        assert "esp8266" in err and "axTLS only does RSA key exchange" in err
    assert certs.key_description(site.pki.broker().public_key()) == "RSA 2048"


def test_esp8266_refused_against_an_ec_broker_or_ec_ca(site):
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "b.lan", "--key-type", "ec")
    rc, _, err = site.cli("provision", "esp-1", "--board", "esp8266", "--host", "b.lan", "--wifi-ssid", "lab")
    assert rc == 2
    assert "its key is EC secp256r1, and axTLS only does RSA key exchange" in err
    assert "--key-type rsa" in err
    assert not site.bundle("esp-1").exists()
    # An RSA broker certificate signed by an EC CA: axTLS cannot parse the signature.
    site.ok("certs", "ca", "--key-type", "ec", "--force")
    site.ok("certs", "broker", "--dns", "b.lan", "--force")
    rc, _, err = site.cli("provision", "esp-1", "--board", "esp8266", "--host", "b.lan", "--wifi-ssid", "lab")
    assert rc == 2 and "RSA-signed" in err


def test_user_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "host_tools", "--certs", str(tmp_path / "c"),
                           "--build", str(tmp_path / "b"), "certs", "broker", "--dns", "x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("host_tools: no CA in ") and ": create one with" in proc.stderr


def test_console_script_is_the_same_cli(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "mqtt-node")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("certs", "broker", "provision", "build", "flash", "check", "env"):
        assert command in proc.stdout
