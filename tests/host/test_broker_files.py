"""The broker's files as the tools write and keep them: the ACL, logins, the certificate
material checked before anything is written, revocation, and the tarball for the broker host."""

import datetime as dt
import json
import tarfile

import pytest

from integration.host_site import Site
from host_tools import certs
from host_tools.broker import acl, passwd, rabbitmq
from host_tools.pki import crl


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "localhost", "--ip", "127.0.0.1")
    s.ok("broker", "config")
    return s


# The ACL -----------------------------------------------------------------------------------

def test_each_row_of_the_device_table_is_one_line_of_its_block():
    rows = acl.DEVICE_TOPICS + (("write", "homeassistant/sensor/{id}/#"),)
    text = acl.generated(["node-1"], [], device_topics=rows)
    assert "topic write homeassistant/sensor/node-1/#\n" in text
    assert text.count("\ntopic ") == len(rows) and text.startswith(acl.BEGIN)


def test_rabbitmq_lets_a_device_write_its_discovery_configs_and_no_other_devices():
    # A routing key does not tell '/' from '.': device "node" must not reach "node.2"'s.
    defs = rabbitmq.definitions(["node", "node.2", "node-1"], ["mon"],
                                {n: "h" for n in ("node", "node.2", "node-1", "mon")})
    for dev in ("node", "node.2", "node-1"):
        may, may_not = acl.device_samples(dev, other="node-9")
        assert all(rabbitmq.allows(defs, dev, a, t) for a, t in may), dev
        assert not any(rabbitmq.allows(defs, dev, a, t) for a, t in may_not), dev
        assert rabbitmq.allows(defs, dev, "write", f"homeassistant/sensor/{dev}/temp_c/config")
    for writer, topic in (("node", "homeassistant/sensor/node.2/rh/config"),
                          ("node", "homeassistant/sensor/node/2/rh/config"),
                          ("node.2", "homeassistant/sensor/node/rh/config"),
                          ("node-1", "homeassistant/sensor/node/rh/config")):
        assert not rabbitmq.allows(defs, writer, "write", topic), (writer, topic)
    assert rabbitmq.allows(defs, "mon", "read", "homeassistant/#")
    assert rabbitmq.allows(defs, "mon", "write", "homeassistant/status")
    assert not rabbitmq.allows(defs, "mon", "write", "homeassistant/sensor/node/rh/config")


def test_the_acl_reads_as_mosquitto_reads_it():
    text = acl.merge(None, ["node-1", "node-2"], ["mon"])
    may, may_not = acl.device_samples("node-1", other="node-2")
    assert all(acl.allows(text, "node-1", a, t) for a, t in may)
    assert not any(acl.allows(text, "node-1", a, t) for a, t in may_not)
    assert acl.allows(text, "mon", "read", "nodes/node-2/readings")
    assert acl.allows(text, "mon", "write", "nodes/node-1/cmd/reboot")
    assert not acl.allows(text, "mon", "write", "nodes/node-1/readings")
    assert not acl.allows(text, "stranger", "read", "nodes/node-1/cmd/x")
    # Mosquitto's deny lines come first, and patterns apply to every user.
    text += "pattern read status/%u\nuser node-1\ntopic deny nodes/node-1/cmd/secret\n"
    assert acl.allows(text, "node-2", "read", "status/node-2")
    assert not acl.allows(text, "node-1", "read", "nodes/node-1/cmd/secret")


def test_lines_written_by_hand_are_kept_around_the_generated_part():
    first = acl.merge(None, ["node-1"], [])
    by_hand = "user grafana\ntopic read nodes/+/readings\n\n" + first + "user late\ntopic read x\n"
    again = acl.merge(by_hand, ["node-1", "node-2"], ["mon"])
    assert again.startswith("user grafana\ntopic read nodes/+/readings\n\n")
    assert again.endswith(acl.END + "\nuser late\ntopic read x\n")
    assert "user node-2\n" in again and again.count(acl.BEGIN) == 1
    assert acl.hand_written(again) == acl.hand_written(by_hand)


# Logins ------------------------------------------------------------------------------------

def test_broker_user_never_replaces_a_login_without_force(site):
    site.ok("broker", "user", "mon")
    first = site.login("mon")[1]
    rc, _, err = site.cli("broker", "user", "mon")
    assert rc == 2 and "mon already has a login" in err and "--force" in err
    assert site.login("mon")[1] == first
    site.ok("broker", "user", "mon", "--force")
    second = site.login("mon")[1]
    assert second != first
    assert passwd.verify_password(second, passwd.read_password_file(site.bdir.password_file)["mon"])


def test_a_provisioned_device_keeps_its_password(site):
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    hashed = passwd.read_password_file(site.bdir.password_file)["node-1"]
    for extra in ((), ("--force",)):
        rc, _, err = site.cli("broker", "user", "node-1", "--role", "device", *extra)
        assert rc == 2 and "is a provisioned device" in err and "provision node-1 --new-password" in err
    rc, _, err = site.cli("broker", "user", "node-1")
    assert rc == 2 and "already a device" in err
    assert passwd.read_password_file(site.bdir.password_file)["node-1"] == hashed


def test_users_added_by_hand_keep_their_hashes(site):
    hashes = passwd.read_password_file(site.bdir.password_file)
    hashes["legacy"] = "$6$c2FsdA==$" + "A" * 88            # Mosquitto 1.x's scheme
    passwd.write_hashes(site.bdir.password_file, hashes)
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    site.ok("broker", "user", "mon")
    site.ok("revoke", "node-1")
    assert passwd.read_password_file(site.bdir.password_file) == {
        "legacy": "$6$c2FsdA==$" + "A" * 88, "mon": passwd.read_password_file(site.bdir.password_file)["mon"]}


# Certificate material, checked before anything is written -----------------------------------

def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    path.chmod(0o600)


def _other_key(site):
    certs.write_secret(site.pki.broker_key, certs.key_pem(certs.generate_key("rsa")), force=True)


def _expired(site):
    ca_cert, ca_key = site.pki.load_ca()
    key = certs.generate_key("rsa")
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    cert = certs.build_leaf(ca_cert, ca_key, "localhost", key, dns_names=["localhost"],
                            ip_addresses=["127.0.0.1"], days=30, not_before=past)
    certs.write_secret(site.pki.broker_key, certs.key_pem(key), force=True)
    certs.write_public(site.pki.broker_cert, certs.cert_pem(cert))


def _other_ca(site):
    other = Site(site.root / "other")
    other.ok("certs", "ca", "--cn", "someone else's CA")
    other.ok("certs", "broker", "--dns", "localhost", "--ip", "127.0.0.1")
    for name in ("broker.crt", "broker.key"):
        (site.pki.root / name).write_bytes((other.pki.root / name).read_bytes())


BREAKAGES = {
    "truncated CA": (lambda s: _truncate(s.pki.ca_cert), "ca.crt is not a certificate, or not a whole one"),
    "garbage broker key": (lambda s: _garbage(s.pki.broker_key), "broker.key is not an unencrypted private key"),
    "key of another certificate": (_other_key, "broker.key does not belong to"),
    "world-readable CA key": (lambda s: s.pki.ca_key.chmod(0o644), "ca.key is readable by others (mode 0644)"),
    "expired broker certificate": (_expired, "broker.crt expired on"),
    "broker certificate of another CA": (_other_ca, "broker.crt is not signed by the CA"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_broken_certificate_material_is_refused_before_anything_is_written(site, breakage):
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    snapshot = {p: p.read_bytes() for p in sorted(site.bdir.root.rglob("*")) if p.is_file()}
    break_it, message = BREAKAGES[breakage]
    break_it(site)
    for args in (("broker", "config"), ("provision", "node-2", "--board", "unix", "--host", "localhost"),
                 ("provision", "node-1", "--new-password"), ("broker", "install", "--tarball", site.root / "t.tgz")):
        rc, out, err = site.cli(*args)
        assert rc == 2 and message in err, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not site.bundle("node-2").exists() and not (site.root / "t.tgz").exists()
    assert {p: p.read_bytes() for p in sorted(site.bdir.root.rglob("*")) if p.is_file()} == snapshot


# Revocation ---------------------------------------------------------------------------------

def test_revoke_takes_the_login_the_rules_the_bundle_and_the_certificate(site):
    site.ok("broker", "config", "--mtls")
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    site.ok("provision", "node-2", "--board", "unix", "--host", "localhost")
    serial = certs.load_cert(site.bundle("node-1") / "client.der").serial_number
    out = site.ok("revoke", "node-1")
    assert "node-1" not in passwd.read_password_file(site.bdir.password_file)
    assert "user node-1\n" not in site.bdir.acl_file.read_text() and "user node-2\n" in site.bdir.acl_file.read_text()
    assert not site.bundle("node-1").exists()
    moved = list((site.root / "build" / "revoked").glob("node-1-*"))
    assert len(moved) == 1 and json.loads((moved[0] / "config.json").read_text())["device_id"] == "node-1"
    assert (moved[0] / "config.json").stat().st_mode & 0o777 == 0o600
    assert crl.revoked_serials(site.pki) == {serial}
    # The broker's copy of the CRL is the new one.
    assert (site.bdir.files / "crl.pem").read_bytes() == site.pki.crl.read_bytes()
    assert not site.pki.device_key("node-1").exists()
    kept = list(site.pki.revoked_dir.glob("node-1-*.key"))
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o777 == 0o600
    assert f"serial {serial:x}" in out and "on the CRL" in out
    # `provision --all` leaves it out; the name can be provisioned again as a new device.
    site.ok("provision", "--all")
    assert not site.bundle("node-1").exists()
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    assert certs.load_cert(site.bundle("node-1") / "client.der").serial_number != serial


def test_revoke_refuses_what_it_does_not_know(site):
    rc, _, err = site.cli("revoke", "ghost")
    assert rc == 2 and "no device ghost" in err
    site.ok("broker", "user", "mon")
    rc, _, err = site.cli("revoke", "mon")
    assert rc == 2 and "is a monitor" in err
    rc, _, err = site.cli("revoke", "node-1\n")
    assert rc == 2 and "cannot be used" in err


def test_a_new_ca_gets_a_new_revocation_list(site):
    site.ok("broker", "config", "--mtls")
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    site.ok("revoke", "node-1")
    site.ok("certs", "ca", "--force")
    site.ok("certs", "broker", "--dns", "localhost", "--ip", "127.0.0.1", "--force")
    # The old CA's list would make OpenSSL refuse every client: it is made again, empty.
    assert crl.load(site.bdir.files / "crl.pem").issuer == site.pki.load_ca()[0].subject
    assert crl.revoked_serials(site.pki) == set()


# The tarball ------------------------------------------------------------------------------

def test_the_tarball_holds_the_broker_hosts_files_for_the_mosquitto_user(site):
    site.ok("provision", "node-1", "--board", "unix", "--host", "localhost")
    tarball = site.root / "broker.tar.gz"
    out = site.ok("broker", "install", "--tarball", tarball)
    assert oct(tarball.stat().st_mode & 0o777) == "0o600"
    assert "tar -xzpf broker.tar.gz -C /etc/mosquitto" in out
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        snippet = tar.extractfile("conf.d/mqtt-node.conf").read().decode()
    assert sorted(members) == ["conf.d/mqtt-node.conf", "mqtt-node", "mqtt-node/acl", "mqtt-node/ca.crt",
                               "mqtt-node/passwd", "mqtt-node/server.crt", "mqtt-node/server.key"]
    assert all(m.uname == m.gname == "mosquitto" for m in members.values())
    assert members["mqtt-node"].isdir() and members["mqtt-node"].mode == 0o700
    assert all(m.mode == 0o600 for name, m in members.items() if name != "mqtt-node")
    assert "password_file /etc/mosquitto/mqtt-node/passwd" in snippet and "user mosquitto" in snippet
    site.ok("broker", "install", "--tarball", tarball, "--prefix", "/opt/mosquitto")
    with tarfile.open(tarball) as tar:
        assert "acl_file /opt/mosquitto/mqtt-node/acl" in tar.extractfile("conf.d/mqtt-node.conf").read().decode()


def test_installing_into_a_folder_needs_root_and_the_mosquitto_user(site, monkeypatch):
    from host_tools.broker import install
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)     # as a user without root
    monkeypatch.setattr(install, "_owner", lambda user: (102, 105))
    rc, _, err = site.cli("broker", "install", "--to", site.root / "etc")
    assert rc == 2 and "needs root" in err and "sudo" in err and "--tarball" in err
    monkeypatch.setattr(install, "_owner", lambda user: None)    # Mosquitto not installed here
    rc, _, err = site.cli("broker", "install", "--to", site.root / "etc")
    assert rc == 2 and "no user mosquitto on this machine" in err and "--tarball" in err
    assert not (site.root / "etc").exists()


def test_a_broker_folder_of_the_earlier_layout_keeps_its_logins(tmp_path):
    """passwd, acl and mosquitto.conf side by side in build/broker/, a device's rights wider."""
    s = Site(tmp_path)
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "localhost", "--ip", "127.0.0.1")
    old = s.root / "build" / "broker"
    old.mkdir(parents=True)
    passwd.write_password_file(old / "passwd", {"node-1": "pw-1", "mon": "pw-m"})
    (old / "acl").write_text("user node-1\ntopic write nodes/node-1/#\n")
    (old / "settings.json").write_text(json.dumps({"devices": ["node-1"], "monitors": ["mon"]}))
    s.ok("broker", "config")
    assert not (old / "passwd").exists() and not (old / "acl").exists()
    users = passwd.read_password_file(s.bdir.password_file)
    assert passwd.verify_password("pw-1", users["node-1"]) and passwd.verify_password("pw-m", users["mon"])
    rules = s.bdir.acl_file.read_text()
    assert not acl.allows(rules, "node-1", "write", "nodes/node-1/cmd/x")
    assert acl.allows(rules, "node-1", "write", "nodes/node-1/readings")
