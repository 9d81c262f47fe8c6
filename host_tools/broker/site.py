"""The broker folder (build/broker/ by default): what `broker config` and `provision` write.

    settings.json     listener settings and who is a device or a monitor (no secrets)
    mosquitto.conf    the config `broker run` starts Mosquitto with
    passwd            users and their passwords in Mosquitto's own hashed format ($7$), 0600
    acl               per-user topic rules: a device writes nodes/<id>/#, reads nodes/<id>/cmd/#
    data/             Mosquitto's persistence (sessions, queued QoS 1 messages)
    mosquitto.log     the broker's log
    mosquitto.pid     written by `broker run` while it runs, so provisioning can reload it
"""

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import mosquitto as mosq
from ..pki import x509 as certs
from ..errors import UserError
from ..pki import Pki

ROLES = ("device", "monitor")
DEFAULTS = {"tls_port": 8883, "bind": None, "plain_port": None, "mtls": False,
            "devices": [], "monitors": []}


@dataclass
class BrokerDir:
    root: Path

    @property
    def settings_file(self):
        return self.root / "settings.json"

    @property
    def conf(self):
        return self.root / "mosquitto.conf"

    @property
    def password_file(self):
        return self.root / "passwd"

    @property
    def acl_file(self):
        return self.root / "acl"

    @property
    def data_dir(self):
        return self.root / "data"

    @property
    def log_file(self):
        return self.root / "mosquitto.log"

    @property
    def pid_file(self):
        return self.root / "mosquitto.pid"

    def settings(self) -> dict:
        s = json.loads(json.dumps(DEFAULTS))
        if self.settings_file.exists():
            try:
                s.update(json.loads(self.settings_file.read_text()))
            except ValueError:
                raise UserError(f"{self.settings_file} is not valid JSON: fix it, or delete it and "
                                "run `broker config` and `provision` again") from None
        return s

    def save_settings(self, s: dict):
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(s, indent=1) + "\n")

    # Users ------------------------------------------------------------------------------

    def users(self) -> dict:
        return mosq.read_password_file(self.password_file)

    def add_user(self, name: str, password: str, role: str):
        """Add or update one user in the password file and the ACL; others are kept as they are."""
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        mosq.check_username(name)
        s = self.settings()
        other = "monitors" if role == "device" else "devices"
        if name in s[other]:
            raise UserError(f"{name} is already a {other[:-1]}: pick another name")
        own = role + "s"
        if name not in s[own]:
            s[own].append(name)
        users = self.users()
        users[name] = password
        mosq.write_password_file(self.password_file, users)
        self.save_settings(s)
        self.write_acl(s)

    def write_acl(self, s=None):
        s = s or self.settings()
        self.root.mkdir(parents=True, exist_ok=True)
        self.acl_file.write_text(mosq.acl_text(s["devices"], s["monitors"]))

    # Config -----------------------------------------------------------------------------

    def write_config(self, pki: Pki, *, tls_port=None, bind=None, dev=False, plain_port=None,
                     mtls=None) -> mosq.BrokerConfig:
        for path, how in ((pki.ca_cert, "certs ca"), (pki.broker_cert, "certs broker --dns NAME"),
                          (pki.broker_key, "certs broker --dns NAME")):
            if not path.exists():
                raise UserError(f"{path} is missing: create it with `python -m host_tools {how}`")
        check_key_mode(pki.broker_key)
        s = self.settings()
        if tls_port is not None:
            s["tls_port"] = tls_port
        if bind is not None:
            s["bind"] = bind or None
        s["plain_port"] = (plain_port or 1883) if dev else None
        if mtls is not None:
            s["mtls"] = bool(mtls)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        config = mosq.BrokerConfig(
            tls_port=s["tls_port"], bind_address=s["bind"], plain_port=s["plain_port"],
            cafile=pki.ca_cert.resolve(), certfile=pki.broker_cert.resolve(),
            keyfile=pki.broker_key.resolve(), password_file=self.password_file.resolve(),
            acl_file=self.acl_file.resolve(), persistence_dir=self.data_dir.resolve(),
            require_certificate=s["mtls"], tls_version="tlsv1.2",
            log_file=self.log_file.resolve(),
        )
        if not self.password_file.exists():
            mosq.write_password_file(self.password_file, {})
        self.write_acl(s)
        self.conf.write_text(config.render())
        self.save_settings(s)
        return config

    # The running broker -----------------------------------------------------------------

    def running_pid(self):
        """The pid of the Mosquitto `broker run` started on this folder, if it still runs."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if any(b"mosquitto" in part for part in cmdline[:1]) and str(self.conf.resolve()).encode() in cmdline:
            return pid
        return None

    def reload(self, timeout=5.0) -> bool:
        """Make a running broker read its config, password file, ACL and certificates again
        (SIGHUP), and return once it logged "Reloading config." (it reloads in that same step of
        its loop, before it serves another connection)."""
        pid = self.running_pid()
        if pid is None:
            return False
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                if b"Reloading config." in log.read():
                    return True
            time.sleep(0.02)
        raise UserError(f"the broker (pid {pid}) did not reload within {timeout:g} s: see "
                        f"{self.log_file}, and restart it")


def check_key_mode(path: Path):
    """Keys stay 0600: never loosened so another user (or a container) can read them."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise UserError(f"{path} is readable by others (mode {mode:04o}): run `chmod 600 {path}`; "
                        "Mosquitto reads it as the user in mosquitto.conf, no need to loosen it")


def describe_config(config: mosq.BrokerConfig) -> list:
    lines = [f"TLS listener on {config.bind_address or 'every interface'}, port {config.tls_port}, "
             f"TLS 1.2 at least"
             + (", client certificates required (mutual TLS)" if config.require_certificate else "")]
    if config.plain_port:
        lines.append(f"plain listener on 127.0.0.1:{config.plain_port} (development only, loopback)")
    cert = certs.load_cert(config.certfile)
    lines.append(f"serving {config.certfile} ({certs.key_description(cert.public_key())}, "
                 f"for {', '.join(certs.subject_alt_names(cert)) or '(no names)'})")
    return lines


def run_foreground(bdir: BrokerDir, out=None, ready=None):
    """`broker run`: Mosquitto on the generated config, its log printed here until Ctrl-C
    (or SIGTERM); then it is stopped cleanly so it saves its persistence file."""
    out = out or sys.stdout
    if not bdir.conf.exists():
        raise UserError(f"no {bdir.conf}: write it first with `python -m host_tools broker config`")
    s = bdir.settings()
    conf = bdir.conf.read_text()
    for line in conf.splitlines():
        if line.startswith("keyfile "):
            check_key_mode(Path(line.split(" ", 1)[1]))
    listeners = [(s["bind"] or "0.0.0.0", s["tls_port"])]
    if s["plain_port"]:
        listeners.append(("127.0.0.1", s["plain_port"]))
    for host, port in listeners:
        if not mosq.port_is_free(port, host):
            raise UserError(f"port {port} on {host} is in use: stop the other broker (a system "
                            "Mosquitto: `sudo systemctl stop mosquitto`), or pick another port with "
                            "`broker config --port N`")
    if bdir.running_pid():
        raise UserError(f"a broker already runs on {bdir.conf} (pid {bdir.running_pid()}): stop it first")
    bdir.log_file.touch()
    offset = bdir.log_file.stat().st_size
    proc = mosq.Mosquitto(bdir.conf, bdir.log_file)

    def _stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        proc.start()
        bdir.pid_file.write_text(f"{proc.proc.pid}\n")
        print(f"broker: Mosquitto running (pid {proc.proc.pid}) on {bdir.conf}; Ctrl-C stops it",
              file=out, flush=True)
        if ready:
            ready(proc)
        with open(bdir.log_file, "rb") as log:
            log.seek(offset)
            while proc.running():
                chunk = log.read()
                if chunk:
                    out.write(chunk.decode(errors="replace"))
                    out.flush()
                else:
                    time.sleep(0.2)
            out.write(log.read().decode(errors="replace"))
        raise UserError(f"mosquitto exited with status {proc.proc.returncode if proc.proc else '?'}: "
                        f"see its log above and in {bdir.log_file}")
    except KeyboardInterrupt:
        print("broker: stopping Mosquitto", file=out, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        proc.stop()
        bdir.pid_file.unlink(missing_ok=True)
