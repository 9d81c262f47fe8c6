"""`broker install`: the broker folder's files put in place on the broker host, owned by the
user Mosquitto runs as and readable by nobody else, either written into a folder (on the
broker host, as root) or packed into a tarball to unpack there:

    <prefix>/conf.d/mqtt-node.conf                0600
    <prefix>/mqtt-node/                           0700
    <prefix>/mqtt-node/{ca.crt, server.crt, server.key, passwd, acl, crl.pem}   0600

Mosquitto reads them as root when it starts and as its own user when it reloads (SIGHUP), so
that user owns them. The config names the files by their place on the broker host: --prefix,
the folder installed to, or the prefix `broker config` was given.
"""

import io
import os
import pwd
import tarfile
import time
from pathlib import Path

from ..errors import UserError
from ..pki import checks
from .site import NAME

DIR_MODE, FILE_MODE = 0o700, 0o600


def _layout(bdir, prefix):
    """(path under the prefix, bytes or None for a folder) of everything installed."""
    items = [(Path("conf.d") / bdir.snippet.name, bdir.host_config(prefix).render().encode()),
             (Path(NAME), None)]
    for path in sorted(bdir.files.iterdir()):
        items.append((Path(NAME) / path.name, path.read_bytes()))
    return items


def _ready(bdir, pki):
    if not bdir.settings()["configured"]:
        raise UserError("no broker config yet: write it first with `python -m host_tools broker config`")
    checks.broker(pki)
    bdir.stage(pki)


def _owner(user):
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def to_folder(bdir, pki, dest: Path, prefix=None) -> list:
    """Write the files into `dest` (the broker host's Mosquitto folder), owned by its user."""
    _ready(bdir, pki)
    user = bdir.settings()["user"]
    owner = _owner(user)
    if owner is None:
        raise UserError(f"there is no user {user} on this machine: install Mosquitto here first "
                        "(its package creates the user), or write a tarball with --tarball FILE and "
                        "unpack it on the broker host")
    if os.geteuid() != 0:
        raise UserError(f"giving the files to {user} needs root: run this with sudo on the broker "
                        "host, or write a tarball with --tarball FILE and unpack it there as root")
    dest = Path(dest).resolve()
    written = []
    for rel, data in _layout(bdir, prefix or dest):
        path = dest / rel
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, *owner)
            os.chmod(path, DIR_MODE)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chown(tmp, *owner)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
        written.append(path)
    bdir.note_installed(str(dest))
    return written


def to_tarball(bdir, pki, tarball: Path, prefix=None) -> list:
    """Pack the files for `tar -xpf FILE -C <prefix>` as root on the broker host; owners by name."""
    _ready(bdir, pki)
    s = bdir.settings()
    prefix = prefix or s["prefix"]
    user = s["user"]
    uid, gid = _owner(user) or (0, 0)
    names = []
    fd = os.open(tarball, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)     # it holds keys
    with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        for rel, data in _layout(bdir, prefix):
            info = tarfile.TarInfo(str(rel))
            info.uid, info.gid, info.uname, info.gname = uid, gid, user, user
            info.mtime = int(time.time())
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), FILE_MODE
                tar.addfile(info, io.BytesIO(data))
            names.append(str(rel))
    bdir.note_installed(f"{tarball} (for {prefix})")
    return names
