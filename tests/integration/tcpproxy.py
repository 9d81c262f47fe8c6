"""A TCP proxy on loopback between the node and the broker, for fault tests.

Policies, set before the node connects (they apply to the connections that follow):
  cut_after      close both sides once this many bytes (both directions counted) went through
                 the connection; applies to the next `cut_connections` connections
  pass_records   server->client: forward only this many TLS application-data records (the
                 first is CONNACK), then swallow the rest: the broker gets everything, the node
                 hears no PUBACK
"""

import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.cut_after = None
        self.cut_connections = 0
        self.pass_records = None
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._socks = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self.connections += 1
                limit = None
                if self.cut_after is not None and self.cut_connections > 0:
                    self.cut_connections -= 1
                    limit = self.cut_after
                self._socks += [client, server]
            conn = _Conn(self, client, server, limit, self.pass_records)
            threading.Thread(target=conn.pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=conn.pump, args=(server, client, True), daemon=True).start()

    def close(self):
        self._closed = True
        self.listener.close()
        with self._lock:
            for s in self._socks:
                _close(s)


class _Conn:
    def __init__(self, proxy, client, server, limit, pass_records):
        self.proxy = proxy
        self.client, self.server = client, server
        self.left = limit               # bytes still allowed through, both directions
        self.pass_records = pass_records
        self.records = 0
        self.pending = b""
        self.lock = threading.Lock()

    def pump(self, src, dst, from_server):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and self.pass_records is not None:
                    data = self._filter_records(data)
                with self.lock:
                    if self.left is not None:
                        if len(data) >= self.left:
                            dst.sendall(data[:self.left])
                            self.left = 0
                            self.proxy.cuts += 1
                            break
                        self.left -= len(data)
                if data:
                    dst.sendall(data)
        except OSError:
            pass
        _close(self.client)
        _close(self.server)

    def _filter_records(self, data):
        # TLS records: <type:1><version:2><length:2><body>; type 23 is application data.
        self.pending += data
        out = b""
        while len(self.pending) >= 5:
            rtype, _, length = struct.unpack_from("!BHH", self.pending, 0)
            if len(self.pending) < 5 + length:
                break
            record, self.pending = self.pending[:5 + length], self.pending[5 + length:]
            if rtype == 23:
                self.records += 1
                if self.records > self.pass_records:
                    continue
            out += record
        return out


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
