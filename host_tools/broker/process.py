"""Mosquitto as a child process of this one, and the loopback ports it listens on."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import UserError

INSTALL_HINT = "install it with `sudo apt-get install mosquitto` (Debian/Ubuntu) or your system's package"


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


def free_ports(count, host="127.0.0.1") -> list:
    """count distinct free TCP ports. Their sockets stay open until all are picked: one at a
    time, the system may hand out a port it just gave back (two listeners of one broker on one
    port)."""
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            socks.append(s)
            s.bind((host, 0))
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
        return ports
    finally:
        for s in socks:
            s.close()


def free_port(host="127.0.0.1") -> int:
    return free_ports(1, host)[0]


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
            # The absolute path, so a pid's command line tells which config it runs.
            self.proc = subprocess.Popen([exe, "-c", str(self.conf_path.resolve())], stdout=log,
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
