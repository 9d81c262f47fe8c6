"""Serial port checks before esptool or mpremote touch a board, with errors that say what to do."""

import errno
import fcntl
import grp
import os
from pathlib import Path

from ..errors import UserError

LIST_HINT = "`mpremote devs` lists the ports"


def _ports():
    try:
        from serial.tools import list_ports
        return sorted(p.device for p in list_ports.comports())
    except Exception:          # pyserial missing or no sysfs: the hint still helps
        return []


def holders(port: str) -> list:
    """(pid, program) of the other processes that have `port` open (those /proc lets us see)."""
    try:
        target = os.path.realpath(port)
    except OSError:
        return []
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid == os.getpid():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.path.realpath(fd) == target:
                    found.append((pid, (proc / "comm").read_text().strip()))
                    break
            except OSError:
                continue
    return found


def _lock_file_owner(port: str):
    """UUCP-style lock files (minicom, cu): /var/lock/LCK..ttyUSB0 holding the owner's pid."""
    name = os.path.basename(port)
    for folder in ("/var/lock", "/run/lock"):
        lock = Path(folder) / f"LCK..{name}"
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if Path(f"/proc/{pid}").exists():
            return pid, lock
    return None


def _busy(port, who):
    raise UserError(f"serial port {port} is busy: {who}; close that program (a serial monitor "
                    "such as screen, minicom, picocom or the Arduino IDE, or another mpremote/"
                    "esptool) and try again")


def check(port: str):
    """Raise UserError unless `port` exists, is ours to open, and no other program holds it."""
    if not port:
        raise UserError(f"no serial port given: pass --port (PORT=... for make), e.g. "
                        f"/dev/ttyUSB0; {LIST_HINT}")
    if not port.startswith("/"):
        return      # COM3, rfc2217://, socket://: left to esptool and mpremote
    if not os.path.exists(port):
        found = _ports()
        raise UserError(f"serial port {port} does not exist: is the board plugged in, with a data "
                        f"cable (not a charge-only one)? ports found now: "
                        f"{', '.join(found) if found else 'none'} ({LIST_HINT})")
    if not os.access(port, os.R_OK | os.W_OK):
        try:
            group = grp.getgrgid(os.stat(port).st_gid).gr_name
        except (KeyError, OSError):
            group = "dialout"
        raise UserError(f"no permission to open serial port {port}: add yourself to the "
                        f"{group} group (`sudo usermod -aG {group} $USER`), then log out and in again")
    others = holders(port)
    if others:
        _busy(port, "held by " + ", ".join(f"pid {pid} ({name})" for pid, name in others))
    owner = _lock_file_owner(port)
    if owner:
        _busy(port, f"locked by pid {owner[0]} ({owner[1]})")
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            _busy(port, "another program opened it exclusively")
        raise UserError(f"cannot open serial port {port} ({exc.strerror}): unplug and replug the "
                        f"board, and check {LIST_HINT}") from None
    try:
        # pyserial (esptool, mpremote, miniterm) takes this lock when it opens a port exclusively.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            _busy(port, "another program holds its lock")
        raise
    finally:
        os.close(fd)
