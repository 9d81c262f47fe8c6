"""A MicroPython board on a serial port, for tests of the host tools that talk to boards."""

import os
import subprocess

from host_tools import unixport


class SerialMicroPython:
    """A MicroPython behind a serial-like tty: the unix port's REPL (it has the raw REPL mpremote
    speaks) on one pty, relayed to another whose path mpremote opens, as it would /dev/ttyUSB0."""

    def __init__(self, cwd, env=None):
        import pty
        import select
        import threading
        import tty
        self._select = select
        self.board_master, board_slave = pty.openpty()
        self.host_master, self.host_slave = pty.openpty()
        tty.setraw(board_slave)
        tty.setraw(self.host_slave)
        self.port = os.ttyname(self.host_slave)
        self.proc = subprocess.Popen([unixport.interpreter()], stdin=board_slave, stdout=board_slave,
                                     stderr=board_slave, cwd=cwd, close_fds=True,
                                     env=dict(os.environ, **(env or {})))
        os.close(board_slave)
        self._stop = False
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self):
        ends = {self.board_master: self.host_master, self.host_master: self.board_master}
        while not self._stop:
            ready, _, _ = self._select.select(list(ends), [], [], 0.1)
            for fd in ready:
                try:
                    os.write(ends[fd], os.read(fd, 4096))
                except OSError:
                    pass

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.proc.kill()
        self.proc.wait(5)
        for fd in (self.board_master, self.host_master, self.host_slave):
            os.close(fd)
