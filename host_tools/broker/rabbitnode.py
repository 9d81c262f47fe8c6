"""A RabbitMQ node run here from a folder of its own: for the tests and the cluster fault suite.

Run as the calling user straight from Debian's /usr/lib/rabbitmq/bin (the /usr/sbin wrappers
switch to the rabbitmq user, which resets HOME and with it the Erlang cookie). Each node has its
own name (rabbitN@localhost), distribution and CLI ports, data, logs and config; the nodes of one
cluster share a HOME holding the cookie and an Erlang port mapper (epmd) on a private port, on
127.0.0.1 only. `EpmdDaemon.stop()` ends that port mapper, which outlives the nodes.
"""

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from ..errors import UserError
from .process import free_port, free_ports

BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
INSTALL = ("install it: `sudo apt-get install rabbitmq-server` (Debian's package brings the MQTT "
           "plugin), or point RABBITMQ_BIN at the folder with rabbitmq-server and rabbitmqctl")


def find_rabbitmq() -> Path:
    exe = BIN / "rabbitmq-server"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise UserError(f"RabbitMQ is not installed here ({exe} is missing): {INSTALL}")
    return BIN


class Home:
    """What the nodes of one cluster share: HOME with the Erlang cookie, and epmd's port."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        cookie = self.root / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16))
            cookie.chmod(0o400)
        self.epmd_port = free_port()

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(HOME=str(self.root), ERL_EPMD_PORT=str(self.epmd_port),
                   ERL_EPMD_ADDRESS="127.0.0.1", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        return env

    def stop(self):
        """End the port mapper the first node started (it outlives the nodes)."""
        subprocess.run(["epmd", "-kill"], env=self.env(), capture_output=True, timeout=10)


class RabbitNode:
    def __init__(self, home: Home, workdir: Path, name: str, conf_file: Path, plugins_file: Path):
        self.home, self.workdir, self.name = home, Path(workdir), f"{name}@localhost"
        self.conf_file, self.plugins_file = Path(conf_file), Path(plugins_file)
        self.dist_port, self.ctl_port = free_ports(2)
        self.proc = None
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def log_dir(self):
        return self.workdir / "log"

    @property
    def pid_file(self):
        return self.workdir / "pid"

    def env(self) -> dict:
        env = self.home.env()
        env.update(
            RABBITMQ_NODENAME=self.name, RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CTL_DIST_PORT_MIN=str(self.ctl_port), RABBITMQ_CTL_DIST_PORT_MAX=str(self.ctl_port),
            RABBITMQ_MNESIA_BASE=str(self.workdir / "mnesia"), RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_CONFIG_FILE=str(self.conf_file), RABBITMQ_ADVANCED_CONFIG_FILE=str(self.workdir / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.plugins_file), RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
        return env

    def ctl(self, *args, timeout=60.0, check=True) -> subprocess.CompletedProcess:
        """rabbitmqctl on this node."""
        proc = subprocess.run([str(BIN / "rabbitmqctl"), "-n", self.name, *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode:
            raise UserError(f"rabbitmqctl {' '.join(args)} on {self.name} failed: "
                            f"{(proc.stderr or proc.stdout).strip()[-600:]}")
        return proc

    def start(self, timeout=90.0):
        """Start the node and return once it runs its apps (the MQTT listener is then open)."""
        find_rabbitmq()
        self.pid_file.unlink(missing_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.workdir / "stdout.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "rabbitmq-server")], env=self.env(), stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while not self.pid_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise UserError(f"RabbitMQ node {self.name} did not start: see {self.workdir}/"
                                f"stdout.log and {self.log_dir}:\n{self.log_text()[-1500:]}")
            time.sleep(0.1)
        left = max(1.0, deadline - time.monotonic())
        self.ctl("wait", "--timeout", str(int(left)), str(self.pid_file), timeout=left + 10)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60.0):
        if not self.running():
            return
        self.ctl("stop", timeout=timeout, check=False)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """SIGKILL the node's whole process group: a host that dies."""
        if self.running():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_text(self) -> str:
        parts = []
        for f in sorted(self.log_dir.glob("*.log")) + [self.workdir / "stdout.log"]:
            try:
                parts.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-6000:])
            except OSError:
                pass
        return "\n".join(parts)
