"""`collect`: the nodes' readings into SQLite, each exactly once, as the usual Mosquitto TLS guides
pair a collector with the broker (paho, a persistent session, QoS 1), with what those guides
leave out: a message is acknowledged to the broker only once its row is committed.

The collector logs in as a login of its own (`broker user collector`, then --login collector)
with clean_session False and subscribes with QoS 1 to every node's readings, status and stats.
The broker keeps what comes while the collector is away (Mosquitto: up to max_queued_messages,
1000 by default, per session) and sends again what was delivered but not acknowledged. paho
acknowledges nothing by itself here (manual_ack): each message is stored in one transaction
(backend/store.py) and only then acknowledged. Killed at any point, the collector loses
nothing (the broker still has what is not acknowledged) and stores nothing twice (a reading
that comes again finds its (device, reading number) taken and counts as a duplicate).

With --since, --device or --csv it reads the database back instead (backend/readback.py).
"""

import re
import signal
import sqlite3
import threading
import time

from ..errors import UserError
from . import login as backend_login
from .store import KINDS, Store

TOPICS = [(f"nodes/+/{kind}", 1) for kind in KINDS]
_TOPIC = re.compile(r"^nodes/([^/]+)/(readings|status|stats)$")


def default_db(ctx):
    return ctx.build_dir / "collect" / "readings.sqlite"


class Collector:
    def __init__(self, login, store: Store, out=print, stopped=None):
        self.login = login
        self.store = store
        self.out = out
        self.stopped = stopped or threading.Event()     # set when the database failed
        self.counts = {"stored": 0, "duplicate": 0, "conflict": 0, "rejected": 0, "kept": 0}
        self.subscribed = threading.Event()
        self.refused = None
        self.failure = None
        self.client = backend_login.client(login, clean_session=False, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason, props):
        if reason.is_failure:
            self.refused = str(reason)
            self.subscribed.set()
            return
        if flags.session_present and self.subscribed.is_set():
            self.out("collect: connected again; the broker kept the session")
        client.subscribe(TOPICS)

    def _on_subscribe(self, client, userdata, mid, reason_codes, props):
        refused = [str(r) for r in reason_codes if r.is_failure]
        if refused:
            self.refused = f"its subscription ({', '.join(refused)}): let " \
                           f"{self.login.username} read nodes/# in the broker's ACL"
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        m = _TOPIC.match(msg.topic)
        try:
            if m:
                outcome = self.store.record(m.group(1), m.group(2), msg.payload, time.time())
                self.counts[outcome] += 1
                if outcome in ("conflict", "rejected"):
                    why = ("its number came before with another reading: the board numbers "
                           "afresh; kept in the conflicts table" if outcome == "conflict"
                           else "not a reading's JSON: not stored")
                    self.out(f"collect: {m.group(1)}: a {outcome} reading on {msg.topic} ({why})")
        except (sqlite3.Error, OSError) as exc:     # the database failed: acknowledge no more
            self.failure = exc
            client.disconnect()
            self.stopped.set()
            return
        if msg.qos:
            client.ack(msg.mid, msg.qos)      # committed: the broker may forget it

    def start(self, timeout=10.0):
        backend_login.start(self.client, self.login, self.subscribed, lambda: self.refused, timeout)
        return self

    def stop(self):
        backend_login.stop(self.client)


def run(ctx, args):
    login = backend_login.resolve(ctx, args.login)
    db_path = args.db or default_db(ctx)
    store = Store(db_path)
    stop = threading.Event()
    saved = {sig: signal.signal(sig, lambda *a: stop.set())
             for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        c = Collector(login, store, stopped=stop).start()
        print(f"collect: subscribed to nodes/+/readings, status and stats as {login.describe()}; "
              f"storing into {db_path} (Ctrl-C stops)", flush=True)
        try:
            stop.wait(args.seconds)
        finally:
            c.stop()
    finally:
        store.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if c.failure:
        raise UserError(f"the database {db_path} failed ({c.failure}): nothing more was "
                        "acknowledged; the broker keeps the rest for the next run")
    n = c.counts
    print(f"collect: stored {n['stored']} readings, {n['duplicate']} duplicates, "
          f"{n['conflict']} conflicts, {n['rejected']} rejected; {n['kept']} status and stats",
          flush=True)
    return 0


def command(ctx, args):
    if args.since is not None or args.device or args.csv:
        from . import readback
        return readback.command(ctx, args)
    return run(ctx, args)
