"""`broker install`: the files laid out for the broker host as a Mosquitto admin installs them,
owned by the mosquitto user and readable by nobody else, and a real Mosquitto started from that
layout as root, which drops to the mosquitto user, serves the devices and reloads."""

import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from host_site import Site, connack
from host_tools.broker.process import Mosquitto

pytestmark = pytest.mark.broker

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="installing for the mosquitto user needs root")


@pytest.fixture
def host_dir():
    """A folder the mosquitto user can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="mqtt-node-host-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def site(tmp_path, mosquitto_exe):
    s = Site(tmp_path)
    s.setup(devices=("node-a",), monitors=())
    yield s
    s.stop()


def mosquitto_user():
    try:
        return pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.fail("no mosquitto user: install Debian's mosquitto package (it creates it)")


def install(site, host_dir, how):
    """The files in host_dir/etc/mosquitto, by `broker install --to` or by unpacking the tarball
    there as root, as the README says."""
    etc = host_dir / "etc" / "mosquitto"
    if how == "to":
        site.ok("broker", "install", "--to", etc)
    else:
        tarball = host_dir / "mqtt-node-broker.tar.gz"
        site.ok("broker", "install", "--tarball", tarball, "--prefix", etc)
        assert tarball.stat().st_mode & 0o777 == 0o600           # it holds the broker's key
        with tarfile.open(tarball) as tar:
            assert {m.uname for m in tar.getmembers()} == {"mosquitto"}
        etc.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-xzpf", str(tarball), "-C", str(etc)], check=True, timeout=60)
    return etc


def debian_conf(host_dir, etc, owner):
    """Debian's own mosquitto.conf, its paths moved under host_dir: pid file, persistence,
    logging, and the conf.d folder `broker install` put the snippet in."""
    var = host_dir / "var"
    var.mkdir()
    os.chown(var, owner.pw_uid, owner.pw_gid)
    log = var / "mosquitto.log"
    log.touch()
    os.chown(log, owner.pw_uid, owner.pw_gid)
    conf = etc / "mosquitto.conf"
    conf.write_text(f"pid_file {var}/mosquitto.pid\npersistence true\npersistence_location {var}/\n"
                    f"log_dest file {log}\ninclude_dir {etc}/conf.d\n")
    return conf, log


@needs_root
@pytest.mark.parametrize("how", ["to", "tarball"])
def test_mosquitto_runs_from_the_installed_layout_as_the_mosquitto_user(site, host_dir, how):
    owner = mosquitto_user()
    etc = install(site, host_dir, how)
    files = sorted((etc / "mqtt-node").iterdir())
    assert [p.name for p in files] == ["acl", "ca.crt", "passwd", "server.crt", "server.key"]
    for path in files + [etc / "conf.d" / "mqtt-node.conf"]:
        st = path.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (owner.pw_uid, 0o600), path
    st = (etc / "mqtt-node").stat()
    assert (st.st_uid, st.st_mode & 0o777) == (owner.pw_uid, 0o700)
    assert f"password_file {etc}/mqtt-node/passwd" in (etc / "conf.d" / "mqtt-node.conf").read_text()

    conf, log = debian_conf(host_dir, etc, owner)
    broker = Mosquitto(conf, log).start()
    try:
        status = Path(f"/proc/{broker.proc.pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid) == owner.pw_uid, status
        ca = site.ca_pem_from_bundle("node-a")
        assert connack("localhost", site.tls_port, ca, *site.login("node-a")) == "Success", broker.log_text()
        user, password = site.login("node-a")
        assert connack("localhost", site.tls_port, ca, user, "wrong") == "Not authorized"
        # A device provisioned later: installed again, read by the broker on SIGHUP, as mosquitto.
        site.ok("provision", "node-b", "--board", "unix", "--host", "localhost")
        assert connack("localhost", site.tls_port, ca, *site.login("node-b")) == "Not authorized"
        install(site, host_dir, how)
        offset = len(broker.log_text())
        broker.proc.send_signal(1)              # SIGHUP, as `systemctl reload mosquitto` sends it
        wait_for_log(broker, "Reloading config.", offset)
        assert connack("localhost", site.tls_port, ca, *site.login("node-b")) == "Success", broker.log_text()
        assert "Error" not in broker.log_text()[offset:], broker.log_text()
    finally:
        broker.stop()


def wait_for_log(broker, text, offset, timeout=10):
    import time
    deadline = time.monotonic() + timeout
    while text not in broker.log_text()[offset:]:
        assert time.monotonic() < deadline, broker.log_text()
        time.sleep(0.02)


def test_install_needs_a_config_and_says_where(site, tmp_path):
    rc, _, err = site.cli("broker", "install")
    assert rc == 2 and "--to DIR" in err and "--tarball FILE" in err
    fresh = Site(tmp_path / "fresh")
    rc, _, err = fresh.cli("broker", "install", "--tarball", tmp_path / "x.tgz")
    assert rc == 2 and "broker config" in err


def test_check_says_when_changes_are_not_installed(site, host_dir):
    site.start_broker()
    site.ok("broker", "install", "--tarball", host_dir / "t.tgz")
    out = site.ok("check", "--device", "node-a")
    assert "since the last `broker install`" not in out
    site.ok("provision", "node-b", "--board", "unix", "--host", "localhost")
    rc, out, err = site.cli("check", "--device", "node-a")
    assert "1 change(s) since the last `broker install`" in out and "provision node-b" in out
    assert "systemctl reload mosquitto" in out
