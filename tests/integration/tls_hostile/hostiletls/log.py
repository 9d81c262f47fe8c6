"""What a client did on one connection to the hostile server, in order, for tests to assert
on: above all whether any application data arrived, and after which event."""

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Event:
    at: float           # seconds since the connection was accepted
    name: str
    detail: object = None


@dataclass
class SessionLog:
    events: list = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: threading.Event = field(default_factory=threading.Event)

    def add(self, name, detail=None):
        self.events.append(Event(time.monotonic() - self.started, name, detail))

    def names(self):
        return [e.name for e in self.events]

    def first(self, name):
        return next((e for e in self.events if e.name == name), None)

    def application_data(self, after=None):
        """The application data records the client sent (their plaintext), all of them or
        those after the first event named `after`."""
        seen = after is None
        out = []
        for e in self.events:
            seen = seen or e.name == after
            if seen and e.name == "application data":
                out.append(e.detail)
        return out

    def carried(self, secret: bytes):
        return any(secret in d for d in self.application_data())

    def summary(self):
        return "; ".join(f"{e.at:.2f}s {e.name}" + ("" if e.detail is None else f" {_short(e.detail)}")
                         for e in self.events)


def _short(detail):
    text = repr(detail)
    return text if len(text) <= 80 else text[:77] + "..."
