"""Mosquitto's password file: one `name:hash` line per user.

Hashes are Mosquitto 2's own ($7$: PBKDF2-HMAC-SHA512, 101 rounds, 12-byte salt), the format
`mosquitto_passwd` writes. Users added by hand (with `mosquitto_passwd`) are kept as they are,
whatever their hash.
"""

import base64
import hashlib
import hmac
import os
from pathlib import Path

from ..errors import UserError

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
    """name -> hash, in file order."""
    users = {}
    path = Path(path)
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, hashed = line.partition(":")
                users[name] = hashed
    return users


def write_hashes(path: Path, users: dict):
    """users maps name -> its hash as a password file holds it; the file is 0600 from the start."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, hashed in users.items():
        check_username(name)
        lines.append(f"{name}:{hashed}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(lines)
    os.chmod(path, 0o600)


def write_password_file(path: Path, passwords: dict):
    """A new password file from name -> clear password."""
    write_hashes(path, {name: hash_password(pw) for name, pw in passwords.items()})
