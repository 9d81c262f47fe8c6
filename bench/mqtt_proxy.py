"""A loopback TCP proxy that delays every chunk by a fixed one-way delay, to count round trips.

Through it, each round trip costs 2 x delay more than over plain loopback, so
    round trips = (time through the proxy - time direct) / (2 x delay)
counts the times a client had to wait for an answer. The TCP handshake is the one round trip
it cannot see (the kernel completes it with the proxy at once), so callers add it: opening a
TCP connection always costs exactly one.
"""

import heapq
import socket
import threading
import time


class DelayProxy:
    def __init__(self, target_host, target_port, delay_s):
        self.target = (target_host, target_port)
        self.delay = delay_s
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _Pipe(client, upstream, self.delay)
            _Pipe(upstream, client, self.delay)

    def close(self):
        self._stop.set()
        self.listener.close()


class _Pipe:
    """One direction: read as it comes, send each chunk `delay` seconds after it arrived."""

    def __init__(self, src, dst, delay):
        self.src, self.dst, self.delay = src, dst, delay
        self.queue = []
        self.seq = 0
        self.cond = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._send, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.src.recv(65536)
            except OSError:
                data = b""
            with self.cond:
                self.seq += 1
                heapq.heappush(self.queue, (time.monotonic() + self.delay, self.seq, data))
                self.cond.notify()
            if not data:
                return

    def _send(self):
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                due, _, data = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.cond.wait(wait)
                    continue
                heapq.heappop(self.queue)
            if not data:
                try:
                    self.dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                self.dst.sendall(data)
            except OSError:
                return
