"""A loopback TCP proxy that counts the bytes of each connection, both ways: bytes on the wire.

It forwards as it reads (no delay). `settle()` waits until every connection made so far has
closed on both sides, then returns (bytes client->server, bytes server->client, connections)
since the last call, so a caller counts one wake at a time.
"""

import socket
import threading

from host_tools.relay import LoopbackRelay


class CountingProxy(LoopbackRelay):
    def __init__(self, target_port, target_host="127.0.0.1"):
        self._lock = threading.Lock()
        self._pumps = []            # threads of connections not yet settled
        self._up = self._down = self._conns = 0
        super().__init__(target_port, target_host, nodelay=True)

    def joined(self, client, server):
        left = [2]          # pumps still running; the last one closes both sockets
        pumps = [threading.Thread(target=self._pump, args=(client, server, True, left), daemon=True),
                 threading.Thread(target=self._pump, args=(server, client, False, left), daemon=True)]
        with self._lock:
            self._conns += 1
            self._pumps += pumps
        for p in pumps:
            p.start()

    def _pump(self, src, dst, up, left):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                if up:
                    self._up += len(data)
                else:
                    self._down += len(data)
            try:
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            src.close()
            dst.close()

    def settle(self, timeout=10.0):
        """(up, down, connections) since the last call, once those connections have closed."""
        with self._lock:
            pumps, self._pumps = self._pumps, []
        for p in pumps:
            p.join(timeout)
            if p.is_alive():
                raise RuntimeError(f"a proxied connection stayed open over {timeout:g} s")
        with self._lock:
            got = (self._up, self._down, self._conns)
            self._up = self._down = self._conns = 0
        return got
