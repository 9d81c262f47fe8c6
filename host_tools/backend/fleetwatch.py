"""`fleet`: every node seen on the broker in one table (backend/fleet.py), live and refreshed in
place, or once (--once) as text or --json for a script.

It logs in as a back end (--login NAME, or the MQTT_* settings) with a clean session and QoS 0:
it keeps nothing on the broker. Each node's status and stats are retained, so they arrive as it
subscribes; readings arrive as nodes publish them, and until one does, the newest reading the
collector stored stands in (--db, when that database exists). --once prints the table once the
retained messages are in: it subscribes a second time, to a topic no node uses, and the broker
answers that only after it has sent what it kept for the first (it handles a connection's
packets in order). Devices provisioned here (build/devices/) are listed even before they are
seen.
"""

import json
import sys
import threading
import time

from ..device import bundle as bundles
from ..errors import UserError
from . import login as backend_login
from .fleet import Fleet, table
from .store import Store

KINDS = ("status", "stats", "readings")
MARKER = "nodes/host_tools-fleet/marker"      # within a back end's read access; no node's


class FleetWatch:
    def __init__(self, login, fleet: Fleet, devices=()):
        self.fleet = fleet
        self.login = login
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.refused = None
        self._marker_mid = None
        self.client = backend_login.client(login)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        # Each known device's own topics too: some brokers (RabbitMQ) send retained messages
        # only to a subscription of that exact topic.
        self.topics = [(f"nodes/+/{k}", 0) for k in KINDS] + \
                      [(f"nodes/{d}/{k}", 0) for d in devices for k in ("status", "stats")]

    def _on_connect(self, client, userdata, flags, reason, props):
        if reason.is_failure:
            self.refused = str(reason)
            self.ready.set()
            return
        client.subscribe(self.topics)
        self._marker_mid = client.subscribe(MARKER, 0)[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, props):
        if any(r.is_failure for r in reason_codes):
            self.refused = (f"its subscription: let {self.login.username} read nodes/# in the "
                            "broker's ACL (`broker user NAME` logins may)")
        if mid == self._marker_mid:
            self.ready.set()            # what the broker kept for us is in

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.fleet.update(msg.topic, msg.payload)

    def start(self, timeout=10.0):
        backend_login.start(self.client, self.login, self.ready, lambda: self.refused, timeout)
        return self

    def rows(self):
        with self.lock:
            return self.fleet.rows()

    def stop(self):
        backend_login.stop(self.client)


def _from_collector(fleet, path):
    if path is None or not path.exists():
        return
    store = Store(path)
    try:
        for device, info in store.devices().items():
            if info["last"]:
                fleet.stored(device, info["last"]["payload"])
    finally:
        store.close()


def _show(rows, as_json, color):
    if as_json:
        print(json.dumps(rows), flush=True)
    else:
        print(table(rows, color), flush=True)


def command(ctx, args):
    from .collector import default_db
    if args.grace < 0:
        raise UserError("--grace must be 0 or more seconds")
    if args.refresh <= 0:
        raise UserError("--refresh must be above 0 seconds")
    login = backend_login.resolve(ctx, args.login)
    devices = sorted(bundles.bundles(ctx.devices_dir))
    fleet = Fleet(grace=args.grace)
    fleet.known(devices)
    watch = FleetWatch(login, fleet, devices).start()
    try:
        with watch.lock:
            _from_collector(fleet, args.db or default_db(ctx))
        if args.once:
            _show(watch.rows(), args.json, color=False)
            return 0
        tty = sys.stdout.isatty() and not args.json
        while True:
            rows = watch.rows()
            if tty:
                print("\x1b[H\x1b[2J", end="")          # home, clear: the table in place
                print(f"fleet: {login.describe()}, {time.strftime('%H:%M:%S')} "
                      "(Ctrl-C stops)")
            _show(rows, args.json, color=tty)
            time.sleep(args.refresh)            # the next picture: new messages, older ages
    except KeyboardInterrupt:
        return 0
    finally:
        watch.stop()
