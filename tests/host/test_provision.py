"""`provision DEVICE --board ...`: bundles, their validation, and the broker's password file and ACL."""

import json
import os

import pytest

from integration.host_site import Site
from host_tools import broker as mosq
from host_tools import certs, provision, unixport
from host_tools.broker import acl
from host_tools.errors import UserError


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "localhost", "--dns", "broker.lan", "--ip", "127.0.0.1",
         "--ip", "192.168.1.10")
    return s


WIFI = {"WIFI_PASSWORD": "correct horse"}


def test_unix_bundle_and_broker_login(site):
    out = site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    bundle = site.bundle("node-1")
    assert sorted(p.name for p in bundle.iterdir()) == ["ca.der", "config.json"]
    assert os.stat(bundle / "config.json").st_mode & 0o777 == 0o600
    assert (bundle / "ca.der").read_bytes() == site.pki.ca_der.read_bytes()
    cfg = site.config("node-1")
    assert cfg["board"] == "unix" and cfg["device_id"] == "node-1"
    assert cfg["mqtt"]["host"] == "localhost" and cfg["mqtt"]["port"] == 8883
    assert cfg["mqtt"]["user"] == "node-1" and cfg["mqtt"]["client_id"] == "node-1"
    assert cfg["tls"] == {"mode": "ca", "ca": "ca.der",
                          "pins": [certs.fingerprint_sha256(site.pki.broker())]}
    password = cfg["mqtt"]["password"]
    assert len(password) >= 20
    # The password exists only in the bundle and as a hash; it is never printed.
    assert password not in out
    hashed = mosq.read_password_file(site.bdir.password_file)["node-1"]
    assert hashed.startswith("$7$") and mosq.verify_password(password, hashed)
    assert password not in site.bdir.password_file.read_text()
    rules = site.bdir.acl_file.read_text()
    for access, topic in acl.DEVICE_TOPICS:
        assert f"topic {access} {topic.format(id='node-1')}\n" in rules
    assert "user node-1\n" in rules


def test_board_defaults_esp8266_pins_esp32_checks_the_ca(site):
    site.ok("provision", "esp-8", "--board", "esp8266", "--host", "192.168.1.10",
            "--wifi-ssid", "lab", env=WIFI)
    out = site.ok("provision", "esp-32", "--board", "esp32", "--host", "broker.lan",
                  "--wifi-ssid", "lab", env=WIFI)
    assert "correct horse" not in out and site.config("esp-32")["mqtt"]["password"] not in out
    assert site.config("esp-8")["tls"]["mode"] == "pin"
    assert site.config("esp-32")["tls"]["mode"] == "ca"
    assert site.config("esp-8")["wifi"] == {"ssid": "lab", "password": "correct horse"}


def test_esp8266_cannot_take_ca_mode(site):
    rc, _, err = site.cli("provision", "esp-8", "--board", "esp8266", "--host", "broker.lan",
                          "--wifi-ssid", "lab", "--tls-mode", "ca", env=WIFI)
    assert rc == 2 and "axTLS has no CA verification" in err and "--tls-mode pin" in err


def test_wifi_an_open_network_only_when_asked_and_never_erased(site):
    base = ("provision", "esp-32", "--board", "esp32", "--host", "broker.lan", "--wifi-ssid", "lab")
    rc, _, err = site.cli(*base)
    assert rc == 2 and "no password for the Wi-Fi network lab" in err and "--open-wifi" in err
    rc, _, err = site.cli(*base, env={"WIFI_PASSWORD": ""})
    assert rc == 2 and "--open-wifi" in err
    nothing_written(site)
    rc, _, err = site.cli(*base, "--open-wifi", env={"WIFI_PASSWORD": "correct horse"})
    assert rc == 2 and "--open-wifi and WIFI_PASSWORD disagree" in err
    site.ok(*base, env={"WIFI_PASSWORD": "correct horse"})
    # An empty or missing WIFI_PASSWORD keeps the stored one.
    site.ok("provision", "esp-32", env={"WIFI_PASSWORD": ""})
    site.ok("provision", "esp-32")
    assert site.config("esp-32")["wifi"] == {"ssid": "lab", "password": "correct horse"}
    # Another network needs its own password, or --open-wifi.
    rc, _, err = site.cli("provision", "esp-32", "--wifi-ssid", "cafe")
    assert rc == 2 and "no password for the Wi-Fi network cafe" in err
    assert site.config("esp-32")["wifi"]["ssid"] == "lab"
    _, _, err = site.cli("provision", "esp-32", "--wifi-ssid", "cafe", "--open-wifi")
    assert site.config("esp-32")["wifi"] == {"ssid": "cafe", "password": ""}
    assert "cafe is written as an open network" in err
    site.ok("provision", "esp-32")                    # it stays open: the bundle says so
    assert site.config("esp-32")["wifi"] == {"ssid": "cafe", "password": ""}


def test_boards_need_wifi_and_a_reachable_host(site):
    rc, _, err = site.cli("provision", "esp-32", "--board", "esp32", "--host", "broker.lan")
    assert rc == 2 and "--wifi-ssid" in err and "WIFI_PASSWORD" in err
    rc, _, err = site.cli("provision", "esp-32", "--board", "esp32", "--host", "localhost",
                          "--wifi-ssid", "lab", env=WIFI)
    assert rc == 2 and "that is the board itself" in err
    rc, _, err = site.cli("provision", "esp-32", "--board", "esp32", "--host", "broker.lan",
                          "--wifi-ssid", "lab", env={"WIFI_PASSWORD": "short"})
    assert rc == 2 and "8 to 63 characters" in err
    assert not site.bundle("esp-32").exists()


def test_name_the_device_checks_must_be_in_the_certificate(site):
    rc, _, err = site.cli("provision", "node-1", "--board", "unix", "--host", "10.9.9.9")
    assert rc == 2 and "not 10.9.9.9" in err and "certs broker --dns 10.9.9.9" in err
    site.ok("provision", "node-1", "--board", "unix", "--host", "10.9.9.9",
            "--server-hostname", "broker.lan")
    assert site.config("node-1")["tls"]["server_hostname"] == "broker.lan"


def nothing_written(site):
    devices = site.root / "build" / "devices"
    assert not devices.exists() or not any(devices.iterdir()), list(devices.iterdir())
    assert not site.bdir.password_file.exists() or "node" not in site.bdir.password_file.read_text()


def test_bad_device_names_and_new_device_without_board(site):
    for name in ("a/b", "a b", "#", "_x", "a..b", "node.2", "x" * 65, "node-1\n", "node-1\r\n",
                 "node\t1"):
        rc, _, err = site.cli("provision", name, "--board", "unix", "--host", "localhost")
        assert rc == 2 and f"device name {name!r} cannot be used" in err, name
    assert "RabbitMQ" in err        # why not a '.'

    rc, _, err = site.cli("provision", "fresh")
    assert rc == 2 and "--board" in err
    nothing_written(site)


def test_a_monitors_name_is_no_device(site):
    site.ok("broker", "user", "mon")
    rc, _, err = site.cli("provision", "mon", "--board", "unix", "--host", "localhost")
    assert rc == 2 and "mon is already a monitor" in err
    assert not site.bundle("mon").exists()


def test_a_plain_port_is_refused_for_a_tls_bundle(site):
    rc, _, err = site.cli("provision", "node-1", "--board", "unix", "--host", "localhost",
                          env={"MQTT_PORT": "1883"})
    assert rc == 2 and "MQTT_PORT (environment) is 1883" in err and "--tls-on-plain-port" in err
    site.env_file.write_text("MQTT_BROKER_PORT=1883\n")
    rc, _, err = site.cli("provision", "node-1", "--board", "unix", "--host", "localhost")
    assert rc == 2 and f"MQTT_BROKER_PORT ({site.env_file}) is 1883" in err
    rc, _, err = site.cli("provision", "node-1", "--board", "unix", "--host", "localhost", "--port", "1883")
    assert rc == 2 and "--port is 1883" in err
    nothing_written(site)
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost", "--tls-on-plain-port")
    assert site.config("node-1")["mqtt"]["port"] == 1883
    site.env_file.write_text("MQTT_BROKER_PORT=8884\n")
    site.ok("provision", "node-2", "--board", "unix", "--host", "localhost")
    assert site.config("node-2")["mqtt"]["port"] == 8884


def test_environment_settings_for_a_plain_or_misnamed_broker_are_refused(site):
    rc, _, err = site.cli("provision", "node-1", "--board", "unix",
                          env={"MQTT_HOST": "localhost", "MQTT_USE_TLS": "false"})
    assert rc == 2 and "MQTT_USE_TLS (environment) says false" in err and "only TLS" in err
    rc, _, err = site.cli("provision", "node-1", "--board", "unix",
                          env={"MQTT_HOST": "mqtts://broker.lan:8883"})
    assert rc == 2 and "'mqtts://broker.lan:8883' (MQTT_HOST (environment)) is not a host name" in err
    rc, _, err = site.cli("provision", "node-1", "--board", "unix", "--host", "broker lan")
    assert rc == 2 and "is not a host name" in err
    nothing_written(site)


def test_provisioning_again_keeps_the_password_unless_asked(site):
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    first = site.config("node-1")["mqtt"]["password"]
    out = site.ok("provision", "node-1")              # board and host from the bundle
    assert site.config("node-1")["mqtt"]["password"] == first and "kept" in out
    site.ok("provision", "node-1", "--new-password")
    second = site.config("node-1")["mqtt"]["password"]
    assert second != first
    assert mosq.verify_password(second, mosq.read_password_file(site.bdir.password_file)["node-1"])
    site.ok("provision", "node-1", "--password-stdin", stdin="my own secret\n")
    assert site.config("node-1")["mqtt"]["password"] == "my own secret"
    # Other users' hashes are left alone.
    site.ok("provision", "node-2", "--board", "unix", "--host", "localhost")
    users = mosq.read_password_file(site.bdir.password_file)
    assert set(users) == {"node-1", "node-2"}
    assert mosq.verify_password("my own secret", users["node-1"])


def test_mutual_tls_bundle_has_client_certificate_and_key_in_der(site):
    site.ok("provision", "esp-8", "--board", "esp8266", "--host", "broker.lan", "--wifi-ssid", "lab",
            "--mtls", env=WIFI)
    bundle = site.bundle("esp-8")
    cfg = site.config("esp-8")
    assert cfg["tls"]["cert"] == "client.der" and cfg["tls"]["key"] == "client.key.der"
    cert = certs.load_cert(bundle / "client.der")
    key = certs.load_key(bundle / "client.key.der")
    assert certs.common_name(cert.subject) == "esp-8"
    assert certs.key_description(key.public_key()) == "RSA 2048"      # axTLS loads RSA only
    assert (bundle / "client.key.der").read_bytes().startswith(b"\x30\x82")  # PKCS#1 DER
    assert os.stat(bundle / "client.key.der").st_mode & 0o777 == 0o600
    rc, _, err = site.cli("provision", "esp-8", "--mtls", "--key-type", "ec")
    assert rc == 2 and "RSA client keys" in err
    # Without mutual TLS again, no stale key stays in the bundle.
    site.ok("provision", "esp-8", "--no-mtls")
    assert not (bundle / "client.key.der").exists() and "cert" not in site.config("esp-8")["tls"]


def test_extra_pins_and_external_ca(site, tmp_path):
    pin = "AB:" * 31 + "AB"
    site.ok("provision", "esp-8", "--board", "esp8266", "--host", "broker.lan", "--wifi-ssid", "lab",
            "--pin", pin, env=WIFI)
    assert site.config("esp-8")["tls"]["pins"][1] == "ab" * 32
    rc, _, err = site.cli("provision", "esp-8", "--pin", "1234")
    assert rc == 2 and "64 hex digits" in err


def test_firmware_validation_errors_name_the_key():
    with pytest.raises(UserError, match=r"mqtt.port must be a whole number \(int\)"):
        provision.firmware_validate({"device_id": "x", "mqtt": {"host": "h", "port": "8883"}})
    with pytest.raises(UserError, match="wifi.ssid is missing"):
        provision.firmware_validate({"device_id": "x", "board": "esp32", "mqtt": {"host": "h"}})
    with pytest.raises(UserError, match="tls.pins is empty"):
        provision.firmware_validate({"device_id": "x", "mqtt": {"host": "h"}, "tls": {"mode": "pin"}})


LOAD_BUNDLE = """
import json, sys
from node import config
cfg = config.load(sys.argv[1])
print("CONFIG " + json.dumps(cfg))
"""


def test_bundles_load_in_micropython_with_the_firmware_config(site, tmp_path):
    """config.json as provision writes it passes firmware/node/config.py under MicroPython."""
    site.ok("provision", "node-u", "--board", "unix", "--host", "localhost")
    site.ok("provision", "esp-8", "--board", "esp8266", "--host", "192.168.1.10", "--wifi-ssid", "lab",
            "--mtls", env=WIFI)
    site.ok("provision", "esp-32", "--board", "esp32", "--host", "broker.lan", "--wifi-ssid", "lab",
            "--tls-mode", "ca+pin", env=WIFI)
    script = tmp_path / "load_bundle.py"
    script.write_text(LOAD_BUNDLE)
    for device in ("node-u", "esp-8", "esp-32"):
        proc = unixport.run([str(script), str(site.bundle(device))], timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        line = next(l for l in proc.stdout.splitlines() if l.startswith("CONFIG "))
        loaded = json.loads(line[len("CONFIG "):])
        written = site.config(device)
        assert loaded["device_id"] == device and loaded["board"] == written["board"]
        assert loaded["tls"]["mode"] == written["tls"]["mode"]
        assert loaded["tls"]["pins"] == written["tls"]["pins"]
        assert loaded["mqtt"]["password"] == written["mqtt"]["password"]
        assert loaded["mqtt"]["topic_prefix"] == f"nodes/{device}"
        if written["board"] != "unix":
            assert loaded["wifi"]["ssid"] == "lab"
    # And a broken one is refused there, naming the key.
    cfg_path = site.bundle("node-u") / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["mqtt"]["keepalve"] = 30
    cfg_path.write_text(json.dumps(cfg))
    proc = unixport.run([str(script), str(site.bundle("node-u"))], timeout=30)
    assert proc.returncode != 0 and "mqtt.keepalve" in proc.stdout + proc.stderr


def test_all_goes_through_every_device_and_names_those_it_could_not_refresh(site):
    for device in ("node-1", "node-2", "node-3", "node-4"):
        site.ok("provision", device, "--board", "unix", "--host", "localhost")
    (site.bundle("node-2") / "config.json").write_text("{ not json")
    cfg = site.config("node-3")
    cfg["mqtt"]["host"] = "mqtts://localhost"
    (site.bundle("node-3") / "config.json").write_text(json.dumps(cfg))
    site.ok("certs", "broker", "--next")
    rc, out, err = site.cli("provision", "--all")
    assert rc == 2
    assert "node-2 not refreshed" in err and "node-3 not refreshed" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("host_tools: 2 of 4 device(s) not refreshed: node-2 (") and "node-3 (" in last
    # The others after them were refreshed: they pin the next certificate too.
    nxt = certs.fingerprint_sha256(site.pki.next_broker())
    for device in ("node-1", "node-4"):
        assert nxt in site.config(device)["tls"]["pins"], device
    assert "Traceback" not in out + err


def test_all_refreshes_every_bundle_but_not_with_one_password(site):
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    site.ok("provision", "node-2", "--board", "unix", "--host", "localhost")
    rc, _, err = site.cli("provision", "--all", "--password-stdin", stdin="same\n")
    assert rc == 2 and "--all keeps each device's board and password" in err
    before = {d: site.config(d)["mqtt"]["password"] for d in ("node-1", "node-2")}
    out = site.ok("provision", "--all")
    assert out.count("provision: unix device") == 2
    assert {d: site.config(d)["mqtt"]["password"] for d in ("node-1", "node-2")} == before


def test_discovery_is_on_unless_switched_off_and_kept_when_provisioned_again(site):
    out = site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    assert site.config("node-1")["mqtt"]["discovery"] is True
    assert "homeassistant/sensor/node-1/" in out
    site.ok("provision", "node-1", "--no-discovery")
    assert site.config("node-1")["mqtt"]["discovery"] is False
    out = site.ok("provision", "node-1")
    assert site.config("node-1")["mqtt"]["discovery"] is False and "discovery off" in out
    site.ok("provision", "node-1", "--discovery")
    assert site.config("node-1")["mqtt"]["discovery"] is True
    # The firmware's own check: a switch that is no switch.
    bundle = site.config("node-1")
    bundle["mqtt"]["discovery"] = "yes"
    with pytest.raises(UserError, match="mqtt.discovery must be true or false"):
        provision.firmware_validate(bundle)
