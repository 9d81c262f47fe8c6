"""The record layer of one connection, server side: records out through the plan's delivery
(whole, byte by byte, or trickled), records in, each protected once its ChangeCipherSpec has
passed."""

import socket

from . import wire
from .protect import BadRecord


class Closed(Exception):
    """The client closed the connection, reset it, or sent nothing within the bound."""


class Channel:
    def __init__(self, sock, plan, log, read_timeout):
        self.sock = sock
        self.plan = plan
        self.log = log
        self.version = wire.TLS12       # what the records carry: the ServerHello's choice
        self.read_state = self.write_state = None
        self._records = wire.RecordReader()
        self._messages = wire.MessageReader()
        self._read_timeout = read_timeout
        sock.settimeout(read_timeout)

    # --- out ---

    def seal(self, ctype, content):
        """One record of ctype holding content, protected when the write state is set."""
        body = self.write_state.seal(ctype, content) if self.write_state else content
        return wire.record(ctype, body, self.version)

    def send(self, data):
        """data through the plan's delivery; Closed when the client is gone."""
        try:
            if self.plan.delivery == "whole":
                self.sock.sendall(data)
                return
            pause = (self.plan.trickle_interval if self.plan.delivery == "trickle"
                     else self.plan.byte_interval)
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])
                # Pacing, not synchronisation: the point is that bytes arrive apart.
                if self._client_left(pause):
                    raise Closed("the client closed the connection while bytes were trickling")
        except OSError as exc:
            raise Closed(f"send: {exc}") from None

    def _client_left(self, seconds):
        """Waits up to `seconds`; True once the client has closed or reset the connection
        (the bytes it sent meanwhile are kept for reading)."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(self._read_timeout)
        if not data:
            return True
        self._records.feed(data)
        return False

    # --- in ---

    def next_record(self):
        """(ctype, content) of the client's next record, unprotected; Closed at its end."""
        while True:
            got = self._records.take()
            if got is not None:
                ctype, _version, body = got
                if self.read_state is not None:
                    try:
                        body = self.read_state.open(ctype, body)
                    except BadRecord as exc:
                        self.log.add("bad record", str(exc))
                        raise Closed(f"bad record: {exc}") from None
                return ctype, body
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Closed("the client sent nothing more within the bound") from None
            except OSError as exc:
                raise Closed(f"recv: {exc}") from None
            if not data:
                raise Closed("end of stream")
            self._records.feed(data)

    def next_item(self):
        """The client's next handshake message as ("handshake", type, body, whole), or its
        next record of another type as (ctype, content)."""
        while True:
            msg = self._messages.take()
            if msg is not None:
                return ("handshake",) + msg
            ctype, content = self.next_record()
            if ctype != wire.HANDSHAKE:
                return ctype, content
            self._messages.feed(content)

    def half_close(self):
        """No more bytes from the server (FIN), reading stays open."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def wait_for_close(self):
        """Reads until the client closes (or the bound passes), noting what it still sent."""
        try:
            while True:
                ctype, content = self.next_record()
                self.log.add(_NAMES.get(ctype, f"record type {ctype}"), content)
        except Closed as exc:
            self.log.add("closed", str(exc))


_NAMES = {wire.ALERT: "alert", wire.APPLICATION_DATA: "application data",
          wire.HANDSHAKE: "handshake record", wire.CHANGE_CIPHER_SPEC: "change cipher spec"}
