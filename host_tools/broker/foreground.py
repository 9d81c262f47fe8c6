"""`broker run`: Mosquitto on this machine from the broker folder, in the foreground."""

import signal
import sys
import time

from ..errors import UserError
from ..pki import checks
from . import process


def run(bdir, pki, out=None, ready=None):
    """Mosquitto's log printed here until Ctrl-C (or SIGTERM); then it is stopped cleanly so
    it saves its persistence file. Its pid is written where `provision` finds it to reload it."""
    out = out or sys.stdout
    s = bdir.settings()
    if not s["configured"]:
        raise UserError("no broker config yet: write it first with `python -m host_tools broker config`")
    checks.broker(pki)
    bdir.stage(pki)
    listeners = [(s["bind"], s["tls_port"])]
    if s["plain_port"]:
        listeners.append(("127.0.0.1", s["plain_port"]))
    for host, port in listeners:
        if not process.port_is_free(port, host):
            raise UserError(f"port {port} on {host} is in use: stop the other broker (a system "
                            "Mosquitto: `sudo systemctl stop mosquitto`), or pick another port with "
                            "`broker config --port N`")
    if bdir.running_pid():
        raise UserError(f"a broker already runs on {bdir.conf} (pid {bdir.running_pid()}): stop it first")
    bdir.log_file.touch()
    offset = bdir.log_file.stat().st_size
    proc = process.Mosquitto(bdir.conf, bdir.log_file)

    def _stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        proc.start()
        bdir.pid_file.write_text(f"{proc.proc.pid}\n")
        bdir.note_loaded()
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
