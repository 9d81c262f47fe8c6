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

from host_tools.relay import LoopbackRelay


class DelayProxy(LoopbackRelay):
    def __init__(self, target_host, target_port, delay_s):
        self.delay = delay_s
        super().__init__(target_port, target_host, nodelay=True)

    def joined(self, client, upstream):
        _Pipe(client, upstream, self.delay)
        _Pipe(upstream, client, self.delay)


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
