"""The broker folder (build/broker/ by default): what `broker config`, `provision`, `broker user`
and `revoke` write, laid out as it goes onto the broker host, under its Mosquitto folder
(`broker config --prefix`, /etc/mosquitto by default, as Debian's package has it):

    conf.d/mqtt-node.conf   listener, TLS, logins, limits; the distribution's mosquitto.conf
                            reads it (`include_dir /etc/mosquitto/conf.d`) and keeps its own
                            pid file, persistence and logging
    mqtt-node/              ca.crt, server.crt, server.key, passwd, acl, crl.pem (mutual TLS)

With `broker config --kind rabbitmq`, also what a RabbitMQ broker host loads, under its
RabbitMQ folder (/etc/rabbitmq by default; broker/rabbitmq.py says what each file holds):

    rabbitmq/rabbitmq.conf, rabbitmq/enabled_plugins
    rabbitmq/mqtt-node/     ca.crt, server.crt, server.key, definitions.json

and for this machine only:

    settings.json           what `broker config` was told; who is a device or a monitor (no secrets)
    changes.json            each change made, and which of them the running or installed broker read
    run/                    `broker run` here: mosquitto.conf (the same settings, paths into this
                            folder), data/, mosquitto.log, mosquitto.pid
"""

import datetime as dt
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..pki import checks, crl
from ..pki import x509 as certs
from . import acl, passwd, rabbitmq
from .conf import MAX_PACKET_SIZE, BrokerConfig

NAME = "mqtt-node"
ROLES = ("device", "monitor")
KINDS = ("mosquitto", "rabbitmq")
PREFIXES = {"mosquitto": "/etc/mosquitto", "rabbitmq": "/etc/rabbitmq"}
DEFAULTS = {"kind": "mosquitto", "tls_port": 8883, "bind": None, "plain_port": None, "mtls": False,
            "prefix": "/etc/mosquitto", "user": "mosquitto", "max_packet_size": MAX_PACKET_SIZE,
            "configured": False, "devices": [], "monitors": [],
            "compose": None}    # {"image", "websockets"}: `broker config --compose` asked for it
# The broker host's files, by their names in mqtt-node/.
CA, CERT, KEY, PASSWD, ACL, CRL = "ca.crt", "server.crt", "server.key", "passwd", "acl", "crl.pem"


def _now():
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class BrokerDir:
    root: Path

    def __post_init__(self):
        # A folder of the earlier layout (passwd, acl and mosquitto.conf side by side): the
        # password file moves in with every login; the ACL is written again from settings.json
        # at the next change, and `broker config` writes the configs.
        old = Path(self.root) / PASSWD
        if old.is_file() and not self.password_file.exists():
            self.files.mkdir(parents=True, exist_ok=True)
            os.replace(old, self.password_file)
            for name in (ACL, "mosquitto.conf"):
                (Path(self.root) / name).unlink(missing_ok=True)

    @property
    def settings_file(self):
        return self.root / "settings.json"

    @property
    def changes_file(self):
        return self.root / "changes.json"

    @property
    def snippet(self):
        return self.root / "conf.d" / f"{NAME}.conf"

    @property
    def files(self):
        return self.root / NAME

    @property
    def password_file(self):
        return self.files / PASSWD

    @property
    def acl_file(self):
        return self.files / ACL

    @property
    def rabbit_dir(self):
        return self.root / "rabbitmq"

    @property
    def definitions_file(self):
        return self.rabbit_dir / NAME / "definitions.json"

    def is_rabbitmq(self, s=None):
        return (s or self.settings())["kind"] == "rabbitmq"

    @property
    def run_dir(self):
        return self.root / "run"

    @property
    def conf(self):
        """The config `broker run` starts Mosquitto with on this machine."""
        return self.run_dir / "mosquitto.conf"

    @property
    def data_dir(self):
        return self.run_dir / "data"

    @property
    def log_file(self):
        return self.run_dir / "mosquitto.log"

    @property
    def pid_file(self):
        return self.run_dir / "mosquitto.pid"

    # Settings ---------------------------------------------------------------------------

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

    # Logins -----------------------------------------------------------------------------

    def users(self) -> dict:
        return passwd.read_password_file(self.password_file)

    def role_of(self, name, s=None):
        """"device", "monitor", "by hand" (in the password file, not added by host_tools) or None."""
        s = s or self.settings()
        for role in ROLES:
            if name in s[role + "s"]:
                return role
        return "by hand" if name in self.users() else None

    def check_new_login(self, name: str, role: str, replace=False):
        """Refuse a name that is taken, before anything is written."""
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        passwd.check_username(name)
        has = self.role_of(name)
        if has == "by hand":
            raise UserError(f"{name} is in {self.password_file} but was not added by host_tools: "
                            "pick another name, or remove it there first (`mosquitto_passwd -D "
                            f"{self.password_file} {name}`)")
        if has and has != role:
            raise UserError(f"{name} is already a {has}: pick another name")
        if has and not replace:
            raise UserError(f"{name} already has a login: keep it, or pass --force to give it a "
                            "new password (whatever uses the old one is locked out)")

    def add_login(self, name: str, password: str, role: str, replace=False):
        """Add one user to the password file and the ACL; every other user is kept as it is."""
        self.check_new_login(name, role, replace)
        s = self.settings()
        if name not in s[role + "s"]:
            s[role + "s"].append(name)
        users = self.users()
        users[name] = passwd.hash_password(password)
        passwd.write_hashes(self.password_file, users)
        self.save_settings(s)
        self.write_acl(s, {name: rabbitmq.hash_password(password)})

    def remove_login(self, name: str) -> bool:
        s = self.settings()
        found = False
        for role in ROLES:
            if name in s[role + "s"]:
                s[role + "s"].remove(name)
                found = True
        if not found:
            return False
        users = self.users()
        users.pop(name, None)
        passwd.write_hashes(self.password_file, users)
        self.save_settings(s)
        self.write_acl(s)
        return True

    def write_acl(self, s=None, new_hashes=None):
        """The rules of every login: Mosquitto's ACL, and with kind rabbitmq the definitions
        (which keep each login's RabbitMQ hash: new_hashes adds or replaces some)."""
        s = s or self.settings()
        existing = self.acl_file.read_text() if self.acl_file.exists() else None
        certs.write_secret(self.acl_file, acl.merge(existing, s["devices"], s["monitors"]).encode(),
                           force=True)
        if self.is_rabbitmq(s):
            hashes = rabbitmq.read_hashes(self.definitions_file)
            hashes.update(new_hashes or {})
            self.definitions_file.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.definitions_file.parent, 0o700)
            defs = rabbitmq.definitions(s["devices"], s["monitors"], hashes)
            certs.write_secret(self.definitions_file, (json.dumps(defs, indent=1) + "\n").encode(),
                               force=True)

    # The rules and logins as the broker reads them, for `check` ----------------------------

    @property
    def rules_file(self):
        """Where the broker reads each login's topic rules and password hash from."""
        return self.definitions_file if self.is_rabbitmq() else self.acl_file

    @property
    def logins_file(self):
        return self.definitions_file if self.is_rabbitmq() else self.password_file

    def allows(self, user, access, topic) -> bool:
        if self.is_rabbitmq():
            return rabbitmq.allows(json.loads(self.definitions_file.read_text()), user, access, topic)
        return acl.allows(self.acl_file.read_text(), user, access, topic)

    def has_rules_for(self, user) -> bool:
        if self.is_rabbitmq():
            return user in rabbitmq.read_hashes(self.definitions_file)
        return user in acl.users_named(self.acl_file.read_text())

    def password_matches(self, user, password):
        """None: the broker has no such login; else whether the password is its password."""
        if self.is_rabbitmq():
            stored = rabbitmq.read_hashes(self.definitions_file).get(user)
            return None if stored is None else rabbitmq.check_password(stored, password)
        stored = self.users().get(user)
        return None if stored is None else passwd.verify_password(password, stored)

    def without_rabbitmq_password(self, s=None) -> list:
        """Logins made before the broker was RabbitMQ: its definitions have no hash of theirs."""
        s = s or self.settings()
        hashes = rabbitmq.read_hashes(self.definitions_file)
        return [n for n in s["devices"] + s["monitors"] if n not in hashes]

    # The broker host's files ------------------------------------------------------------

    def configure(self, pki, *, tls_port=None, bind=None, dev=False, plain_port=None, mtls=None,
                  prefix=None, max_packet_size=None, kind=None, compose=None, websockets=None,
                  image=None):
        """`broker config`: settings kept for the next time, then every file written.
        compose: True writes the Docker Compose files too (and from then on), False stops."""
        s = self.settings()
        if kind is not None and kind != s["kind"]:
            if kind not in KINDS:
                raise UserError(f"unknown broker kind {kind!r}: use one of {', '.join(KINDS)}")
            if s["prefix"] == PREFIXES[s["kind"]]:
                s["prefix"] = PREFIXES[kind]
            s["kind"] = kind
        if tls_port is not None:
            s["tls_port"] = tls_port
        if bind is not None:
            s["bind"] = bind
        s["plain_port"] = (plain_port or 1883) if dev else None
        if mtls is not None:
            s["mtls"] = bool(mtls)
        if prefix is not None:
            if not str(prefix).startswith("/"):
                raise UserError(f"--prefix {prefix} is not an absolute path: give the broker "
                                "host's Mosquitto folder, e.g. /etc/mosquitto")
            s["prefix"] = str(prefix)
        if max_packet_size is not None:
            s["max_packet_size"] = max_packet_size
        self._compose_settings(s, compose, websockets, image)
        checks.broker(pki)
        if not s["bind"]:
            s["bind"] = default_bind(pki)
        elif not certs.is_ip(s["bind"]):
            raise UserError(f"--bind {s['bind']} is not an IP address: give the address of the "
                            "broker host's interface devices reach, or 0.0.0.0 for every interface")
        s["configured"] = True
        self.save_settings(s)
        if not self.password_file.exists():
            passwd.write_hashes(self.password_file, {})
        self.write_acl(s)
        self.stage(pki)
        self.note_change("broker config")
        return s

    def _compose_settings(self, s, compose, websockets, image):
        from . import compose as compose_files
        if compose is False:
            s["compose"] = None
            compose_files.remove(self)
            return
        if compose is None and s["compose"] is None:
            if websockets is not None or image is not None:
                raise UserError("--websockets and --image are for the Docker Compose files: add "
                                "--compose")
            return
        if s["kind"] == "rabbitmq":
            raise UserError("the Docker Compose files run Mosquitto (eclipse-mosquitto), and this "
                            "broker is RabbitMQ: leave out --compose"
                            + (", and add --no-compose to stop writing them" if s["compose"]
                               else "") + " (or `broker config --kind mosquitto`)")
        c = dict(s["compose"] or {"image": compose_files.IMAGE, "websockets": None})
        if image is not None:
            compose_files.check_image(image)
            c["image"] = image
        if websockets is not None:
            c["websockets"] = websockets or None        # 0: no WebSocket listener
        taken = {s["tls_port"], s["plain_port"] or 1883}
        if c["websockets"] in taken:
            raise UserError(f"--websockets {c['websockets']} is the port of another listener: give "
                            "one of its own (8884, say, or 443 behind nothing else)")
        s["compose"] = c

    def host_config(self, prefix=None, s=None) -> BrokerConfig:
        """The settings for the broker host, paths under its Mosquitto folder."""
        s = s or self.settings()
        files = Path(prefix or s["prefix"]) / NAME
        return BrokerConfig(
            tls_port=s["tls_port"], bind_address=s["bind"], plain_port=s["plain_port"],
            cafile=files / CA, certfile=files / CERT, keyfile=files / KEY, crlfile=files / CRL,
            password_file=files / PASSWD, acl_file=files / ACL, require_certificate=s["mtls"],
            bind_client_ids=True, max_packet_size=s["max_packet_size"], user=s["user"],
            header=f"{NAME}: Mosquitto settings written by host_tools (`broker config`)\n"
                   f"Installed as {Path(prefix or s['prefix']) / 'conf.d' / self.snippet.name}; "
                   "Mosquitto's own mosquitto.conf reads it\n(include_dir) and keeps the pid "
                   "file, persistence and logging settings.")

    def run_config(self, s=None) -> BrokerConfig:
        """The same settings for a Mosquitto run on this machine from this folder."""
        c = self.host_config(self.root.resolve(), s)
        c.user = None
        c.header = f"{NAME}: `broker run` on this machine, written by host_tools"
        c.log_file, c.persistence_dir = self.log_file.resolve(), self.data_dir.resolve()
        return c

    def stage(self, pki):
        """Copy the certificates in, refresh the CRL, write both configs (after `broker config`)."""
        s = self.settings()
        if not s["configured"]:
            return False
        checks.broker(pki)
        self.files.mkdir(parents=True, exist_ok=True)
        os.chmod(self.files, 0o700)
        certs.write_secret(self.files / CA, pki.ca_cert.read_bytes(), force=True)
        certs.write_secret(self.files / CERT, pki.broker_cert.read_bytes(), force=True)
        certs.write_secret(self.files / KEY, pki.broker_key.read_bytes(), force=True)
        if s["mtls"]:
            certs.write_secret(self.files / CRL, crl.ensure(pki).read_bytes(), force=True)
        else:
            (self.files / CRL).unlink(missing_ok=True)
        certs.write_secret(self.snippet, self.host_config(s=s).render().encode(), force=True)
        if self.is_rabbitmq(s):
            self.stage_rabbitmq(pki, s)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        certs.write_secret(self.conf, self.run_config(s).render().encode(), force=True)
        if s["compose"]:
            from . import compose
            compose.write(self, s)
        return True

    def stage_rabbitmq(self, pki, s):
        """rabbitmq/: rabbitmq.conf and enabled_plugins, and in mqtt-node/ the certificates
        and the definitions, as they go under the broker host's RabbitMQ folder."""
        files = self.definitions_file.parent
        files.mkdir(parents=True, exist_ok=True)
        os.chmod(files, 0o700)
        for name, source in ((CA, pki.ca_cert), (CERT, pki.broker_cert), (KEY, pki.broker_key)):
            certs.write_secret(files / name, source.read_bytes(), force=True)
        on_host = Path(s["prefix"]) / NAME
        bind = s["bind"] if s["bind"] != "0.0.0.0" else None
        text = rabbitmq.conf(
            tls_port=s["tls_port"], bind=bind, cafile=on_host / CA, certfile=on_host / CERT,
            keyfile=on_host / KEY, definitions_file=on_host / self.definitions_file.name,
            mtls=s["mtls"], plain_port=s["plain_port"],
            header=f"{NAME}: RabbitMQ settings written by host_tools (`broker config --kind "
                   f"rabbitmq`)\nInstalled as {s['prefix']}/rabbitmq.conf, with "
                   f"{s['prefix']}/enabled_plugins and {on_host}/")
        certs.write_secret(self.rabbit_dir / "rabbitmq.conf", text.encode(), force=True)
        certs.write_secret(self.rabbit_dir / "enabled_plugins", rabbitmq.ENABLED_PLUGINS.encode(),
                           force=True)
        if not self.definitions_file.exists():
            self.write_acl(s)

    def apply(self, pki, what: str) -> str:
        """After a change: the files staged again, the change noted, a running broker reloaded.
        Returns what became of it, for the user."""
        self.stage(pki)
        self.note_change(what)
        if self.is_rabbitmq():
            return (f"RabbitMQ reads them once {self.definitions_file.name} is on its host: copy "
                    f"it to {self.settings()['prefix']}/{NAME}/ and `sudo rabbitmqctl "
                    f"import_definitions {self.settings()['prefix']}/{NAME}/"
                    f"{self.definitions_file.name}` there")
        pid = self.running_pid()
        if pid and self.reload():
            return f"the running broker (pid {pid}) has read them"
        return ("a broker reads them once they are on its host and it reloads: `broker install`, "
                "then `sudo systemctl reload mosquitto` there (`broker run` here reloads by itself)")

    # What changed, and what the brokers have read ---------------------------------------

    def changes(self) -> dict:
        try:
            return json.loads(self.changes_file.read_text())
        except (OSError, ValueError):
            return {"changed": 0, "log": [], "loaded": None, "installed": None}

    def _save_changes(self, c):
        self.root.mkdir(parents=True, exist_ok=True)
        self.changes_file.write_text(json.dumps(c, indent=1) + "\n")

    def note_change(self, what: str):
        c = self.changes()
        c["changed"] += 1
        c["log"] = (c["log"] + [[c["changed"], _now(), what]])[-50:]
        self._save_changes(c)

    def note_loaded(self):
        c = self.changes()
        c["loaded"] = c["changed"]
        self._save_changes(c)

    def note_installed(self, where: str):
        c = self.changes()
        c["installed"], c["installed_at"], c["installed_to"] = c["changed"], _now(), where
        self._save_changes(c)

    def unread(self, since) -> list:
        """[(at, what)] of the changes after number `since` (None: all of them)."""
        return [(at, what) for n, at, what in self.changes()["log"] if since is None or n > since]

    # The broker `broker run` started here -----------------------------------------------

    def running_pid(self):
        """The pid of the Mosquitto `broker run` started on this folder, if it still runs."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except (OSError, ValueError):
            return None
        if not cmdline or b"mosquitto" not in Path(os.fsdecode(cmdline[0])).name.encode():
            return None
        # Its -c argument, as given (relative to its working folder) or absolute.
        args = [os.fsdecode(a) for a in cmdline]
        if "-c" in args[:-1]:
            given = Path(args[args.index("-c") + 1])
            if (cwd / given).resolve() == self.conf.resolve():
                return pid
        return None

    def reload(self, timeout=5.0) -> bool:
        """Make a running broker read its config, password file, ACL, CRL and certificates
        again (SIGHUP), and return once it logged "Reloading config." (it reloads in that same
        step of its loop, before it serves another connection)."""
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
                    self.note_loaded()
                    return True
            time.sleep(0.02)
        raise UserError(f"the broker (pid {pid}) did not reload within {timeout:g} s: see "
                        f"{self.log_file}, and restart it")


def default_bind(pki) -> str:
    """The broker certificate's one IP address: where devices reach the broker."""
    ips = [n for n in certs.subject_alt_names(pki.broker()) if certs.is_ip(n)]
    if len(ips) != 1:
        raise UserError("which address should the TLS listener use? give --bind ADDRESS, the "
                        "broker host's address on the devices' network (e.g. --bind "
                        "192.168.1.10), or --bind 0.0.0.0 for every interface")
    return ips[0]


def describe(bdir: BrokerDir, pki) -> list:
    s = bdir.settings()
    c = bdir.host_config(s=s)
    lines = [f"TLS listener on {s['bind']}:{s['tls_port']}, TLS 1.2 at least, client id bound to "
             "the login" + (", client certificates required (mutual TLS) and checked against "
                            "the CRL" if s["mtls"] else "")]
    if s["plain_port"]:
        lines.append(f"plain listener on 127.0.0.1:{s['plain_port']} (development only, loopback)")
    cert = pki.broker()
    lines.append(f"serving {pki.broker_cert} ({certs.key_description(cert.public_key())}, for "
                 f"{', '.join(certs.subject_alt_names(cert)) or '(no names)'})")
    lines.append(f"runs as user {c.user}; packets of at most {s['max_packet_size']} bytes; "
                 f"files for {s['prefix']}/ on the broker host")
    return lines
