"""The node's TLS client (node.tls.make_context, then node.mqtt.client's CONNECT) under
MicroPython, in one process that makes attempt after attempt (device/tls_attempts.py), each
classified: "connected" (CONNACK came back), "TLSError", "OSError", another exception's class,
"crashed" (the process died: a signal, or the emulator's "EMU:" exit), "hung" (no answer within
the bound: the process is killed). A crashed or hung process is started again for the next
attempt.

    unix = Interpreter.unix_port()                   # the mbedtls unix port
    emu8266 = Interpreter.esp8266(emu.ensure()["esp8266"])   # axTLS, 32-bit, node frozen
    with TlsClient(emu8266, workdir) as client:
        outcome = client.attempt(request(server, tls={"mode": "pin", "pins": [pin]}))
"""

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from host_tools import unixport

SCRIPT = Path(__file__).resolve().parent / "device" / "tls_attempts.py"
PASSWORD = "hostile-tls-test-password"
_EOF, _TIMEOUT = object(), object()
HEAP_ESP8266 = 28672        # the heap the board budgets give a wake on the ESP8266 emulator


@dataclass(frozen=True)
class Interpreter:
    name: str
    command: tuple
    micropypath: str
    library: str            # the TLS library: "axtls" or "mbedtls"

    @classmethod
    def unix_port(cls):
        return cls("unix", (unixport.interpreter(),), unixport.micropypath(), "mbedtls")

    @classmethod
    def esp8266(cls, board, heapsize=HEAP_ESP8266):
        # Only what the board has: the frozen node.
        return cls("esp8266", (str(board.interpreter), "-X", f"heapsize={heapsize}"), ".frozen",
                   "axtls")


@dataclass
class Outcome:
    kind: str
    message: str = ""
    errno: int | None = None
    seconds: float = 0.0            # measured here, from the request to the answer
    output: str = ""                # what else the client printed

    def __str__(self):
        errno = f" [{self.errno}]" if self.errno is not None else ""
        return f"{self.kind}{errno}: {self.message} ({self.seconds:.1f} s)"


def request(server, tls, timeout=5, password=PASSWORD):
    tls = dict(tls)
    tls.setdefault("server_hostname", "localhost")
    return {"host": server.host, "port": server.port, "tls": tls, "dir": ".",
            "user": "node-1", "password": password, "timeout": timeout}


class TlsClient:
    def __init__(self, interpreter, workdir, bound=60.0):
        self.interpreter = interpreter
        self.workdir = Path(workdir)
        self.bound = bound
        self.proc = None
        self.restarts = 0
        self._buf = b""
        self._stderr = None

    def _start(self):
        self._stderr = open(self.workdir / f"stderr-{self.restarts}.txt", "w+b")
        env = dict(os.environ, MICROPYPATH=self.interpreter.micropypath)
        self.proc = subprocess.Popen(list(self.interpreter.command) + [str(SCRIPT)],
                                     cwd=self.workdir, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        self._buf = b""
        self.restarts += 1

    def attempt(self, req, bound=None) -> Outcome:
        if self.proc is None:
            self._start()
        started = time.monotonic()
        deadline = started + (bound or self.bound)
        chatter = []
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        while True:
            line = self._line(deadline)
            seconds = time.monotonic() - started
            if line is _TIMEOUT:
                self._stop()
                return Outcome("hung", f"no answer within {bound or self.bound:g} s",
                               seconds=seconds, output="".join(chatter))
            if line is _EOF:
                return self._crash(seconds, chatter)
            if line.startswith("RESULT "):
                got = json.loads(line[len("RESULT "):])
                return Outcome(got["outcome"], got.get("message", ""), got.get("errno"),
                               seconds, "".join(chatter))
            chatter.append(line)

    def _line(self, deadline):
        """The next line the client printed; _EOF at its end, _TIMEOUT at the deadline."""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return _TIMEOUT
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    return _EOF
                self._buf += data
        finally:
            sel.close()
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode(errors="replace") + "\n"

    def _crash(self, seconds, chatter):
        code = self.proc.wait(timeout=10)
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace")
        self._stop()
        if code < 0:
            what = f"killed by {signal.Signals(-code).name}"
        else:
            what = f"exited with status {code}"
        emu = [ln for ln in err.splitlines() if ln.startswith("EMU:")]
        message = "; ".join([what] + emu) if emu else f"{what}: {err.strip()[-500:]}"
        return Outcome("crashed", message, seconds=seconds, output="".join(chatter))

    def _stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self):
        self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
