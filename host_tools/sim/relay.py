"""A TCP relay on a free loopback port: each connection made to it is joined to a target.

What happens to the bytes is the subclass's: joined(client, server) gets both sockets of each
connection (blocking, no timeout). The tests and benchmarks use it to watch or disturb the
node's connection to its broker: counting bytes, delaying them, cutting them.
"""

import socket
import threading


class LoopbackRelay:
    def __init__(self, target_port, target_host="127.0.0.1", nodelay=False):
        self.target = (target_host, target_port)
        self.nodelay = nodelay
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return          # closed
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            if self.nodelay:
                for s in (client, server):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.joined(client, server)

    def joined(self, client, server):
        raise NotImplementedError

    def close(self):
        self.listener.close()
