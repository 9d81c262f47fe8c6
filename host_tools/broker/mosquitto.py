"""Mosquitto: its config, password file and ACL, and running it as a child process."""

import base64
import getpass
import hashlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

INSTALL_HINT = "install it with `sudo apt-get install mosquitto` (Debian/Ubuntu) or your system's package"

# Mosquitto 2's own password hash: PBKDF2-HMAC-SHA512, 101 rounds, 12-byte salt ("$7$").
_PBKDF2_ROUNDS = 101


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ROUNDS)
    return f"$7${_PBKDF2_ROUNDS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` matches a password-file hash: "$7$" (PBKDF2-SHA512, Mosquitto 2) or
    "$6$" (salted SHA-512, Mosquitto 1.x)."""
    parts = hashed.split("$")
    try:
        if hashed.startswith("$7$") and len(parts) == 5:
            rounds, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
            return hmac.compare_digest(
                hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds), digest)
        if hashed.startswith("$6$") and len(parts) == 4:
            salt, digest = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            return hmac.compare_digest(hashlib.sha512(password.encode() + salt).digest(), digest)
    except ValueError:
        return False
    return False


def check_username(name: str):
    if not name or ":" in name or any(c.isspace() for c in name) or any(c in name for c in "#+/"):
        raise UserError(
            f"user name {name!r} cannot be used: no ':', '/', '#', '+' or white space, and not empty"
        )


def read_password_file(path: Path) -> dict:
    users = {}
    path = Path(path)
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, hashed = line.partition(":")
                users[name] = hashed
    return users


def write_password_file(path: Path, users: dict):
    """users maps name -> clear password (hashed here) or an existing "$7$..." hash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, secret in users.items():
        check_username(name)
        hashed = secret if secret.startswith("$7$") else hash_password(secret)
        lines.append(f"{name}:{hashed}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(lines)
    os.chmod(path, 0o600)


def device_topic_prefix(device_id: str) -> str:
    return f"nodes/{device_id}"


def acl_text(devices=(), monitors=()) -> str:
    """Each device publishes only under nodes/<id>/ and reads only nodes/<id>/cmd/;
    monitors (back ends) read every node and send commands."""
    out = ["# written by host_tools: one block per user\n"]
    for dev in devices:
        prefix = device_topic_prefix(dev)
        out.append(f"\nuser {dev}\ntopic write {prefix}/#\ntopic read {prefix}/cmd/#\n")
    for mon in monitors:
        out.append(f"\nuser {mon}\ntopic read nodes/#\ntopic write nodes/+/cmd/#\n")
    return "".join(out)


@dataclass
class BrokerConfig:
    tls_port: int = 8883
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    password_file: Path | None = None
    acl_file: Path | None = None
    persistence_dir: Path | None = None
    plain_port: int | None = None          # dev only: bound to loopback
    bind_address: str | None = None        # None: every interface
    require_certificate: bool = False
    tls_version: str = "tlsv1.2"           # the minimum accepted
    log_file: Path | None = None           # None: standard output
    autosave_interval: int = 60            # seconds between saves of the session store
    extra: list = field(default_factory=list)

    def render(self) -> str:
        user = getpass.getuser()
        lines = [
            "# mosquitto.conf written by host_tools",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {self.password_file}",
        ]
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        lines += [
            # Root would drop to the `mosquitto` user, which cannot read keys kept 0600.
            f"user {user}",
            "set_tcp_nodelay true",
            "connection_messages true",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "log_timestamp_format %H:%M:%S",
            f"log_dest file {self.log_file}" if self.log_file else "log_dest stdout",
        ]
        if self.persistence_dir:
            lines += ["persistence true", f"persistence_location {self.persistence_dir}/",
                      f"autosave_interval {self.autosave_interval}"]
        lines += self.extra
        if self.plain_port:
            lines += ["", f"listener {self.plain_port} 127.0.0.1", "protocol mqtt"]
        listen = f"listener {self.tls_port}" + (f" {self.bind_address}" if self.bind_address else "")
        lines += [
            "", listen, "protocol mqtt",
            f"cafile {self.cafile}", f"certfile {self.certfile}", f"keyfile {self.keyfile}",
            f"tls_version {self.tls_version}",
            f"require_certificate {'true' if self.require_certificate else 'false'}",
        ]
        return "\n".join(lines) + "\n"


def find_mosquitto() -> str:
    """$MOSQUITTO, else mosquitto on PATH or in the sbin folders Debian installs it to."""
    explicit = os.environ.get("MOSQUITTO")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise UserError(f"MOSQUITTO={explicit} is not an executable: unset it, or {INSTALL_HINT}")
        return explicit
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise UserError(f"mosquitto not found: {INSTALL_HINT}")
    return found


def free_port(host="127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port, host="127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class Mosquitto:
    """A Mosquitto child process on a config file.

    The config must say `log_dest file <log_path>`: Mosquitto flushes that file per line
    (its standard output only at exit), and start() waits for the "running" line in it.
    Errors it prints before its logging is set up go to the same file.
    """

    def __init__(self, conf_path: Path, log_path: Path):
        self.conf_path = Path(conf_path)
        self.log_path = Path(log_path)
        self.proc = None

    def start(self, timeout=10.0):
        exe = find_mosquitto()
        log = open(self.log_path, "ab")
        start_offset = log.tell()
        try:
            self.proc = subprocess.Popen([exe, "-c", str(self.conf_path)], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._wait_running(start_offset, timeout)
        return self

    def _wait_running(self, offset, timeout):
        # Mosquitto logs "... running" once every listener is open; a failed bind exits first.
        deadline = time.monotonic() + timeout
        while b" running" not in self.log_path.read_bytes()[offset:]:
            if self.proc.poll() is not None:
                raise UserError(
                    f"mosquitto exited with status {self.proc.returncode} at start:\n{self.log_text()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise UserError(f"mosquitto did not start within {timeout:g} s:\n{self.log_text()}")
            time.sleep(0.02)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the broker: SIGTERM lets it save its persistence file, SIGKILL does not."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def restart(self, sig=signal.SIGTERM, timeout=10.0):
        self.stop(sig)
        return self.start(timeout)
