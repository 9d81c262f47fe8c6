# The node's wake: measure, deliver, sleep.
#
# One wake (deep-sleep mode, interval >= node.stay_connected_below_s):
#   read the sensor when a reading is due -> bring up Wi-Fi (bounded) -> make sure the clock is
#   plausible (NTP) -> TLS and CONNECT with the persistent session, the first window of
#   readings in the same flight -> the rest of the backlog, oldest first, with the in-flight
#   window -> commands queued while asleep -> stats when due -> status "sleeping" ->
#   DISCONNECT -> readings still unacknowledged wait in RTC memory or flash (node.ledger) ->
#   state to RTC memory -> deep sleep until the next reading, or sooner on the backoff
#   schedule (1 s to 120 s, jittered) while delivery fails.
# Shorter intervals stay connected and idle between readings (board.idle), pinging only when
# nothing went out within the keepalive.
#
# RAM is what an ESP8266 lacks, so a wake imports only what it uses: the configuration check
# is unloaded once done, and commands, stats, NTP, the ring buffer and the backoff schedule
# are imported only by a wake that needs them; what follows the delivery (node.session) only
# once the readings are delivered, and the MQTT client only once the TLS handshake is done
# (node.connect, itself loaded only to connect).
import gc
import sys
import time
from micropython import const

from node import board as boards
from node import reading
from node.ledger import Ledger, pid_of
from node.mqtt import MQTTException
from node.state import State

_PLAUSIBLE = const(1735689600)  # 2025-01-01: a clock before it was never set (node.clock)
_SETUP_GC = const(2048)         # bytes allocated between collections until the handshake
COMMANDS = const(16)            # commands taken in one wake; more wait for the next
VERSION = "0.2.0"               # the firmware's (Home Assistant shows it: node.discovery)


def _unload(name):
    # A module used once per wake gives back its RAM (its code too, when loaded as .mpy).
    sys.modules.pop("node." + name, None)
    import node
    try:
        delattr(node, name)
    except (AttributeError, KeyError):     # not loaded (MicroPython raises KeyError)
        pass


def _text(topic):
    # A topic as text, whatever bytes the broker sent (a callback must never raise).
    try:
        return topic.decode()
    except UnicodeError:
        return repr(topic)


def _delay_ms(attempt):
    from node.backoff import delay_ms
    return delay_ms(attempt)


class Node:
    def __init__(self, board, cfg, log=print):
        self.board = board
        self.cfg = cfg
        opt = self.opt = cfg["node"]
        self.log = log
        self.t0 = time.ticks_ms()
        self.wdt = board.watchdog(opt["watchdog_s"] * 1000) if opt["watchdog_s"] else None
        raw = board.rtc_load()
        self.state = State.decode(raw)
        # Wi-Fi and the broker's address as the last wake found them (node.netpath); after a
        # failed connection the address is looked up again.
        from node import netcache
        self.netcache = netcache.load(raw)
        self.stale = self.state.attempt > 0
        raw = None
        _unload("netcache")
        self.data_dir = board.data_dir()
        self.ledger = Ledger(self.state, self.data_dir, opt, log)
        # What commands changed (cmd/interval), kept in flash across power loss.
        self.settings_path = self.data_dir + "/settings.json"
        self.settings = {}
        self.interval = opt["interval_s"]
        try:
            import json
            with open(self.settings_path) as f:
                got = json.load(f)
            if isinstance(got, dict):
                self.settings = got
                self.interval = got.get("interval_s", self.interval)
        except (OSError, ValueError):
            pass
        self.sensor = board.default_sensor()
        prefix = cfg["mqtt"]["topic_prefix"]
        self.topic = prefix + "/readings"
        self.t_status = prefix + "/status"
        self.cmd_prefix = prefix + "/cmd/"
        self.client = None
        self.stats_due = False
        self._queued = 0
        self._commands = []
        self._room = COMMANDS             # commands this node takes before it answers them
        self._acked = False                # commands acknowledged on this connection

    # --- readings ---

    def take_readings(self, now):
        st = self.state
        new = []
        if st.read_at and now < st.read_at:
            return new
        for _ in range(self.opt["readings_per_wake"]):
            n = self.ledger.number()
            new.append(reading.pack(n, now, self.sensor.read()))
            st.taken += 1
            self.log("node: reading n=%d" % n)
        # Keep the schedule; after a long outage, start again from now rather than catch up.
        due = st.read_at + self.interval if st.read_at else now + self.interval
        st.read_at = due if due > now else now + self.interval
        return new

    def _message(self, rec):
        """(topic, payload, packet id, DUP) of a reading."""
        pid, dup = self.ledger.message(rec)
        return self.topic, reading.payload(rec, self.cfg["device_id"], self.sensor.FIELDS), pid, dup

    # --- the connection ---

    def ensure_clock(self):
        # Certificate dates are checked and readings carry the time: a board that lost power
        # wakes in 1970 (or 2000), and NTP sets it.
        board = self.board
        if board.unix_time() < _PLAUSIBLE:
            from node import clock
            try:
                clock.ensure(board, self.opt["ntp_host"], self.opt["ntp_port"])
            finally:
                _unload("clock")
                _unload("sntp")

    def release_ring(self):
        # The ring buffer keeps no file open: its object and code go, and come back when
        # the ledger needs them again (a few small reads).
        self.ledger.release()
        _unload("ringbuf")

    def status(self, state, next_wake=None):
        """The retained status: online, sleeping (with next_wake), or the will's offline; and
        when the broker refused the command subscription, what to fix."""
        doc = '{"state": "%s", "t": %d' % (state, self.board.unix_time())
        if next_wake is not None:
            doc += ', "next_wake": %d' % next_wake
        if self.state.sub_retry_at:
            doc += (', "commands": "refused: let %s read %s# in the broker\'s ACL"'
                    % (self.cfg["mqtt"]["user"] or self.cfg["mqtt"]["client_id"], self.cmd_prefix))
        return doc + "}"

    def _on_message(self, topic, msg):
        # False: not taken, so not acknowledged: the broker sends it again next time.
        topic = _text(topic)
        if not topic.startswith(self.cmd_prefix):
            return True
        return self._take(topic[len(self.cmd_prefix):], msg)

    def _on_oversized(self, topic, size):
        # Read past by the client; taken, it is answered (never run) and acknowledged.
        topic = _text(topic)
        st = self.state
        st.oversized = min(st.oversized + 1, 65535)
        return self._take(topic[len(self.cmd_prefix):] if topic.startswith(self.cmd_prefix)
                          else topic, size)

    def _take(self, name, msg):
        if self._room <= 0:
            return False
        self._room -= 1
        self._commands.append((name, msg))
        return True

    def send(self, records):
        """Publish records (oldest first; the first of them may have been queued at connect);
        returns a list of acknowledged flags, one per record."""
        c, ledger = self.client, self.ledger
        queued, self._queued = self._queued, 0
        mq = self.cfg["mqtt"]
        if not mq["qos"]:
            for rec in records[queued:]:
                c.publish(self.topic, reading.payload(rec, self.cfg["device_id"], self.sensor.FIELDS))
                ledger.acked.add(pid_of(reading.number(rec)))
        else:
            # False when the timeout passed: what was acknowledged by then still counts.
            c.publish_many((self._message(records[i]) for i in range(queued, len(records))),
                           mq["timeout"])
        flags = [ledger.is_acked(rec) for rec in records]
        self.state.delivered += sum(flags)
        self._feed()
        return flags

    def deliver(self, rest, keepalive):
        """What flash holds, oldest first, then `rest` (RTC memory's and new readings); what
        the broker acknowledged leaves the ledger's custody."""
        w = self.cfg["mqtt"]["window"]
        chunk = []

        def first():
            chunk.extend(self.ledger.first(w))
            return [rec for _, rec in chunk] or rest[:w]
        from node.connect import connect
        connect(self, first, keepalive)
        connect = None
        _unload("connect")              # connected: its code goes, its RAM to the flush
        self.ledger.flush(self.send, w, chunk)
        if rest and not all(self.send(rest)):
            # The broker stopped answering: waiting again for commands would only double the
            # time awake. What it did not acknowledge is kept (wake -> keep).
            raise OSError("the broker did not acknowledge the new readings in time")

    def _feed(self):
        if self.wdt:
            self.wdt.feed()

    # --- a wake, and what follows it ---

    def wake(self):
        st = self.state
        st.cycles += 1
        ledger = self.ledger
        if self.board.unix_time() < _PLAUSIBLE:
            # After a power loss the clock starts at the epoch: set it before the readings
            # get their time (connect() says why if it cannot be set).
            try:
                from node.connect import route
                route(self)
                self.ensure_clock()
            except OSError as e:
                self.log("node: %s" % e)
        ledger.take(self.take_readings(self.board.unix_time()))
        self.save()                        # the readings are kept, whatever happens next
        stay = self.interval < self.opt["stay_connected_below_s"]
        rest = list(st.pending)
        if rest or st.flash or self.stats_due:
            try:
                self.deliver(rest, self.keepalive(stay))
                self.release_ring()        # delivered: its RAM goes to commands and stats
                st.attempt = 0
                from node import session
                if session.subscribe(self):
                    session.drain_commands(self)
                    session.publish_stats(self, self.board.unix_time())
                    session.discovery(self)
                    if stay:
                        return session.stay_connected(self)
                    self.client.publish(self.t_status, self.status("sleeping", self.next_wake()),
                                        retain=True)
                    self.client.disconnect(self._acked)
            except (OSError, MQTTException, ValueError) as e:
                self.failed(e)
            finally:
                self.client = None
        ledger.settle()
        self.sleep()

    def failed(self, e):
        st = self.state
        st.attempt = min(st.attempt + 1, 255)
        st.failures += 1
        self.log("node: delivery failed (%s: %s); try %d" % (type(e).__name__, e, st.attempt))
        if self.client:
            self.client.disconnect()

    def keepalive(self, stay):
        if not stay:
            return self.cfg["mqtt"]["keepalive"]
        # Connected and idle: readings are the traffic, so the broker should give the node
        # an interval plus a margin before it calls it dead (it waits 1.5 x keepalive).
        return min(65535, self.interval + max(10, self.interval // 2))

    def next_wake(self):
        st = self.state
        now = self.board.unix_time()
        wait = max(1, st.read_at - now)
        if st.attempt and (st.pending or st.flash):
            wait = min(wait, max(1, _delay_ms(st.attempt) // 1000))
        return now + wait

    def save(self):
        from node import netcache
        self.board.rtc_save(netcache.rtc_image(self.state.encode(), self.netcache))
        _unload("netcache")

    def sleep(self):
        st = self.state
        wake_at = self.next_wake()
        sleep_s = wake_at - self.board.unix_time()
        st.wake_at = wake_at
        awake = time.ticks_diff(time.ticks_ms(), self.t0)
        st.awake_ms += awake
        st.up_s += sleep_s + awake // 1000
        self.save()
        self.log("node: sleeping %d s (buffered %d in flash, %d in RTC memory)"
                 % (sleep_s, self.ledger.in_flash(), len(st.pending)))
        self.board.deepsleep(max(1, sleep_s) * 1000)


def main():
    # Collect often until the TLS handshake: long-lived objects then pack at the bottom of the
    # heap, and the handshake finds the large blocks it needs (connect() turns this off).
    gc.threshold(_SETUP_GC)
    board = boards.load()
    try:
        from node import config
        cfg = config.load(board.bundle_dir())
    except ValueError as e:
        # Nothing can work until the device is provisioned again: sleep long, not in a loop.
        print("node: %s" % e)
        board.deepsleep(3600 * 1000)
        return
    finally:
        _unload("config")
    node = None
    try:
        node = Node(board, cfg)
        node.wake()
    except Exception as e:     # a bug must not become a crash loop on the battery
        sys.print_exception(e)
        st = node.state if node else State.decode(board.rtc_load())
        st.attempt = min(st.attempt + 1, 255)
        st.failures += 1
        board.rtc_save(st.encode())
        board.deepsleep(_delay_ms(st.attempt))
