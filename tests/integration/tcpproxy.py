"""A TCP proxy on loopback between the node and the broker, for fault tests.

Policies, set before the node connects (they apply to the connections that follow):
  cut_after      close both sides once this many bytes (both directions counted) went through
                 the connection; applies to the next `cut_connections` connections
  cut_in_record  (sender, n, k): the same, once k bytes of the n-th TLS record (from 0) that
                 `sender` ("client" or "server") sends went through: a cut that lands in the
                 same place of a session whatever the sizes of the records before it
  pass_records   server->client: forward only this many TLS application-data records (the
                 first is CONNACK), then swallow the rest: the broker gets everything, the node
                 hears no PUBACK
  on_record      f(session, index), called before the server's index-th TLS application-data
                 record of a connection (1 is CONNACK) is forwarded; the node waits for that
                 record while f runs (e.g. to stop the broker in the middle of a flush)

Every connection leaves a Session in `sessions`: the bytes that went through, the TLS records
of both directions at their offsets in the session (both directions counted in the order the
proxy forwarded them, as cut_after counts), and where it was cut.
"""

import socket
import struct
import threading
from dataclasses import dataclass, field

from host_tools.relay import LoopbackRelay


@dataclass
class Record:
    sender: str         # "client" (the node) or "server" (the broker)
    type: int           # TLS content type: 20 change cipher spec, 21 alert, 22 handshake, 23 data
    length: int         # of the record's body
    start: int          # session offset of its first byte
    end: int            # session offset just past its last byte


@dataclass
class Session:
    total: int = 0                  # bytes forwarded, both directions
    cut: int | None = None          # offset at which the proxy closed it
    records: list = field(default_factory=list)


class TcpProxy(LoopbackRelay):
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.cut_after = None
        self.cut_in_record = None
        self.cut_connections = 0
        self.pass_records = None
        self.on_record = None
        self.connections = 0
        self.cuts = 0
        self.sessions = []
        self._lock = threading.Lock()
        self._socks = []
        self._closed = False
        # TCP_NODELAY: a relay that holds small writes for delayed ACKs adds 40 ms to each
        # round trip of the session (a TLS handshake has several).
        super().__init__(target_port, target_host, nodelay=True)

    def joined(self, client, server):
        with self._lock:
            self.connections += 1
            limit = in_record = None
            if self.cut_connections > 0 and (self.cut_after, self.cut_in_record) != (None, None):
                self.cut_connections -= 1
                limit, in_record = self.cut_after, self.cut_in_record
            self._socks += [client, server]
            conn = _Conn(self, client, server, limit, self.pass_records, self.on_record)
            conn.cut_in_record = in_record
            self.sessions.append(conn.session)
        threading.Thread(target=conn.pump, args=(client, server, False), daemon=True).start()
        threading.Thread(target=conn.pump, args=(server, client, True), daemon=True).start()

    def close(self):
        self._closed = True
        super().close()
        with self._lock:
            for s in self._socks:
                _close(s)


class _Conn:
    def __init__(self, proxy, client, server, limit, pass_records, on_record):
        self.proxy = proxy
        self.client, self.server = client, server
        self.left = limit               # bytes still allowed through, both directions
        self.cut_in_record = None       # (sender, n, k): see TcpProxy
        self.pass_records = pass_records
        self.on_record = on_record
        self.records = 0                # server application-data records seen
        self.pending = b""
        self.session = Session()
        self.taps = {False: _Tap("client", self.session), True: _Tap("server", self.session)}
        self.lock = threading.Lock()

    def pump(self, src, dst, from_server):
        filtering = from_server and (self.pass_records is not None or self.on_record is not None)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                chunks = self._records(data) if filtering else (data,)
                if not all(self._forward(c, dst, from_server) for c in chunks):
                    break
        except OSError:
            pass
        _close(self.client)
        _close(self.server)

    def _forward(self, data, dst, from_server):
        """Send data on unless the cut falls in it; False once the connection is cut."""
        if data is None:                # a swallowed record
            return True
        tap = self.taps[from_server]
        with self.lock:
            allowed = self._allowed(tap, data)
            cut = allowed is not None and len(data) >= allowed
            if cut:
                data = data[:allowed]
                self.proxy.cuts += 1
            if self.left is not None:
                self.left -= len(data)
            tap.feed(data, self.session.total)
            self.session.total += len(data)
            if cut:
                self.session.cut = self.session.total
        if data:
            dst.sendall(data)
        return not cut

    def _allowed(self, tap, data):
        """How many bytes of data may go through before the cut, or None: no cut ahead."""
        allowed = self.left
        if self.cut_in_record is not None and self.cut_in_record[0] == tap.sender:
            _, n, k = self.cut_in_record
            starts = [r.start for r in tap.records] + tap.feed(data, self.session.total, dry=True)
            if n < len(starts):
                at = starts[n] + k - self.session.total
                allowed = at if allowed is None else min(allowed, at)
        return None if allowed is None else max(0, allowed)

    def _records(self, data):
        # Whole TLS records, <type:1><version:2><length:2><body>, one at a time (type 23 is
        # application data): the hook runs before its record goes on, a swallowed one is None.
        self.pending += data
        while len(self.pending) >= 5:
            rtype, _, length = struct.unpack_from("!BHH", self.pending, 0)
            if len(self.pending) < 5 + length:
                break
            record, self.pending = self.pending[:5 + length], self.pending[5 + length:]
            if rtype == 23:
                self.records += 1
                if self.on_record is not None:
                    self.on_record(self.session, self.records)
                if self.pass_records is not None and self.records > self.pass_records:
                    yield None
                    continue
            yield record


class _Tap:
    """Notes the TLS records of one direction as their bytes pass (nothing is held back)."""

    def __init__(self, sender, session):
        self.sender = sender
        self.session = session
        self.records = []       # this direction's records, in order
        self.head = b""         # header bytes of the record being read
        self.left = 0           # body bytes of the current record still to come

    def feed(self, data, offset, dry=False):
        """Note data, whose first byte is at session offset `offset`; returns the offsets at
        which records begin in it. dry: only say where, note nothing."""
        head, left = self.head, self.left
        record = self.records[-1] if self.records else None
        starts = []
        i = 0
        while i < len(data):
            if left == 0:
                if not head:
                    starts.append(offset + i)
                    if not dry:
                        record = Record(self.sender, data[i], 0, offset + i, offset + i)
                        self.records.append(record)
                        self.session.records.append(record)
                take = min(5 - len(head), len(data) - i)
                head += data[i:i + take]
                i += take
                if len(head) < 5:
                    break
                left = struct.unpack_from("!H", head, 3)[0]
                head = b""
                if not dry:
                    record.length = left
            take = min(left, len(data) - i)
            left -= take
            i += take
            if not dry:
                record.end = offset + i
        if not dry:
            self.head, self.left = head, left
        return starts


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
