"""The hostile TLS server: a listener on loopback, a thread per connection, each connection
served as the current Plan says, each leaving a SessionLog.

    with HostileServer() as server:
        server.plan = Plan(chain=(leaf_der,), key=leaf_key)
        mark = server.mark()
        ... a client connects ...
        logs = server.since(mark, settle=5)     # the sessions since mark, once they ended
"""

import socket
import threading
import time

from .channel import Channel
from .log import SessionLog
from .plan import Plan
from .session import Session

READ_BOUND = 30.0       # seconds a session waits for the client's next bytes


class HostileServer:
    def __init__(self, host="127.0.0.1", read_bound=READ_BOUND):
        self.plan = Plan()
        self.read_bound = read_bound
        self.sessions = []
        self._lock = threading.Lock()
        self._socks = []
        self._listener = socket.create_server((host, 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log = SessionLog()
            with self._lock:
                self.sessions.append(log)
                self._socks.append(sock)
                plan = self.plan
            threading.Thread(target=self._serve, args=(sock, plan, log), daemon=True).start()

    def _serve(self, sock, plan, log):
        try:
            Session(Channel(sock, plan, log, self.read_bound), plan, log).run()
        except Exception as exc:     # a bug of ours: shown in the log, not lost in a thread
            log.add("server error", f"{type(exc).__name__}: {exc}")
        finally:
            sock.close()
            log.ended.set()

    def mark(self):
        with self._lock:
            return len(self.sessions)

    def since(self, mark, settle=10.0):
        """The sessions opened since mark, each waited for until it ended (at most `settle`
        seconds in all)."""
        with self._lock:
            logs = self.sessions[mark:]
        deadline = time.monotonic() + settle
        for log in logs:
            log.ended.wait(max(0.0, deadline - time.monotonic()))
        return logs

    def close(self):
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
