"""What every command shares: the folders given by the global options, the MQTT_* settings,
and how it speaks to the user."""

import sys
from pathlib import Path

from .errors import UserError


class Ctx:
    def __init__(self, certs="certs", build="build", env_file=None):
        self.certs_dir = Path(certs)
        self.build_dir = Path(build)
        self._env_file = env_file
        self._settings = None

    @property
    def pki(self):
        from .pki import Pki
        return Pki(self.certs_dir)

    @property
    def bdir(self):
        from .broker.site import BrokerDir
        return BrokerDir(self.build_dir / "broker")

    @property
    def devices_dir(self):
        return self.build_dir / "devices"

    @property
    def revoked_dir(self):
        return self.build_dir / "revoked"

    @property
    def users_dir(self):
        return self.build_dir / "users"

    @property
    def firmware_dir(self):
        return self.build_dir / "firmware"

    @property
    def image_dir(self):
        return self.build_dir / "image"

    def settings(self):
        if self._settings is None:
            from . import env
            path = Path(self._env_file) if self._env_file else Path(".env")
            self._settings = env.load(dotenv=path, required_dotenv=bool(self._env_file))
            env.warn(self._settings)
        return self._settings


def say(msg=""):
    print(msg, flush=True)


def warn(msg):
    print(f"host_tools: warning: {msg}", file=sys.stderr, flush=True)


def read_secret_line(what):
    line = sys.stdin.readline()
    if not line:
        raise UserError(f"--password-stdin: no {what} on standard input: pipe it in, e.g. "
                        "`pass show x | ... --password-stdin`")
    return line.rstrip("\r\n")
