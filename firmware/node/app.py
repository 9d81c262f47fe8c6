# The node: wake, measure, deliver, sleep.
#
# One wake (deep-sleep mode, interval >= node.stay_connected_below_s):
#   read the sensor when a reading is due -> bring up Wi-Fi (bounded) -> make sure the clock is
#   plausible (NTP) -> TLS and CONNECT with the persistent session, the first window of
#   readings in the same flight -> the rest of the backlog, oldest first, with the in-flight
#   window -> commands queued while asleep -> stats when due -> status "sleeping" ->
#   DISCONNECT -> readings still unacknowledged wait in RTC memory (node.rtc_batch) or go to
#   the flash ring buffer in one batch -> state to RTC memory -> deep sleep until the next
#   reading, or sooner on the backoff schedule (1 s to 120 s, jittered) while delivery fails.
# Shorter intervals stay connected and idle between readings (board.idle), pinging only when
# nothing went out within the keepalive.
#
# Flash is spent only where it buys something: a reading the broker acknowledges in its own
# wake never touches flash, unless node.durable asks for every reading to be stored first.
# Reading number n gives the MQTT packet id (n % 65535 + 1), so a reading sent before a deep
# sleep and not acknowledged goes again after it with the same id and DUP set, and nothing
# but n needs to be remembered.
import json
import sys
import time

from node import board as boards
from node import clock, commands, config, numbering, reading, status
from node.backoff import delay_ms
from node.mqtt import MQTTClient, MQTTException
from node.ringbuf import RingBuffer
from node.state import PENDING_ROOM, State
from node.tls import make_context

RING = "/ring"


def pid_of(n):
    return n % 65535 + 1


class Node:
    def __init__(self, board, cfg, log=print):
        self.board = board
        self.cfg = cfg
        self.opt = cfg["node"]
        self.log = log
        self.t0 = time.ticks_ms()
        self.wdt = board.watchdog(self.opt["watchdog_s"] * 1000) if self.opt["watchdog_s"] else None
        st = self.state = State.decode(board.rtc_load())
        self.data_dir = board.data_dir()
        self.ring = RingBuffer(self.data_dir + RING, self.opt["buffer_bytes"], self.opt["buffer_policy"])
        if st.reset_reason:
            # Cold boot (power loss, first start, or RTC garbage): counters start again.
            log("node: cold boot (%s), %d readings in flash" % (st.reset_reason, len(self.ring)))
            st.carried = len(self.ring)
        self.settings = commands.load_settings(self.data_dir)
        self.interval = self.settings.get("interval_s", self.opt["interval_s"])
        self.sensor = board.default_sensor()
        prefix = cfg["mqtt"]["topic_prefix"]
        self.topic = prefix + "/readings"
        self.t_status = prefix + "/status"
        self.cmd_prefix = prefix + "/cmd/"
        self.client = None
        self.stats_due = False
        self._acked = set()
        self._commands = []

    # --- readings ---

    def take_readings(self, now):
        st = self.state
        new = []
        if st.read_at and now < st.read_at:
            return new
        for _ in range(self.opt["readings_per_wake"]):
            n = numbering.next_number(st, self.data_dir)
            new.append(reading.pack(n, now, self.sensor.read()))
            st.taken += 1
            self.log("node: reading n=%d" % n)
        # Keep the schedule; after a long outage, start again from now rather than catch up.
        due = st.read_at + self.interval if st.read_at else now + self.interval
        st.read_at = due if due > now else now + self.interval
        return new

    def payload(self, record):
        return reading.payload(record, self.cfg["device_id"], self.sensor.FIELDS)

    # --- the connection ---

    def connect(self, first, keepalive):
        """TLS + CONNECT, with the first window of readings queued into the same flight."""
        mq = self.cfg["mqtt"]
        self.board.wifi_up(self.cfg["wifi"], self.opt["wifi_timeout_ms"])
        clock.ensure(self.board, self.opt["ntp_host"], self.opt["ntp_port"])
        c = MQTTClient(mq["client_id"], mq["host"], mq["port"], mq["user"], mq["password"],
                       keepalive, ssl=make_context(self.cfg["tls"], self.board.bundle_dir()),
                       timeout=mq["timeout"], window=mq["window"], max_packet=mq["max_packet"],
                       reconnect_tries=1)
        c.set_callback(self._on_message)
        c.defer_acks = True                # a command is acknowledged once it has run
        c.set_ack_callback(self._acked.add)
        c.set_last_will(self.t_status, status.OFFLINE, retain=True, qos=1)
        self.client = c
        queued = self._queue(c, first) if mq["qos"] else 0
        # Whether the broker's session holds the command subscription is known only from a
        # CONNACK: a connection that breaks before it may have left a new session without it.
        known = self.state.subscribed
        self.state.subscribed = 0
        present = c.connect(clean_session=mq["clean_session"])
        if self.state.attempt:
            self.state.reconnects += 1     # the broker is back after failed attempts
        c.publish(self.t_status, status.online(self.board.unix_time()), retain=True)
        if not (present and known):
            c.subscribe(self.cmd_prefix + "#", qos=1)
        self.state.subscribed = 1
        return queued

    def _message(self, rec):
        """(topic, payload, packet id, DUP) of a reading; DUP when it went out before."""
        st = self.state
        n = reading.number(rec)
        dup = n <= st.sent_max
        if dup:
            st.resent += 1
        else:
            st.sent_max = n
        return self.topic, self.payload(rec), pid_of(n), dup

    def _queue(self, c, records):
        for topic, msg, pid, dup in map(self._message, records):
            c.publish(topic, msg, qos=1, pid=pid, dup=dup)
        return len(records)

    def _on_message(self, topic, msg):
        topic = topic.decode() if isinstance(topic, bytes) else topic
        if topic.startswith(self.cmd_prefix) and len(self._commands) < 16:
            self._commands.append((topic[len(self.cmd_prefix):], msg))

    def acked(self, rec):
        return pid_of(reading.number(rec)) in self._acked

    def send(self, records, queued=0):
        """Publish records (oldest first), the first `queued` of them already queued at
        connect; returns a list of acknowledged flags, one per record."""
        c, st = self.client, self.state
        if not self.cfg["mqtt"]["qos"]:
            for rec in records[queued:]:
                c.publish(self.topic, self.payload(rec))
                self._acked.add(pid_of(reading.number(rec)))
        else:
            # False when the timeout passed: what was acknowledged by then still counts.
            c.publish_many([self._message(rec) for rec in records[queued:]], self.cfg["mqtt"]["timeout"])
        flags = [self.acked(rec) for rec in records]
        st.delivered += sum(flags)
        return flags

    def deliver(self, rest, keepalive):
        """The ring buffer's records, oldest first, then `rest` (RTC memory's and new ones);
        the ring buffer drops what was acknowledged, self.acked(rec) tells for `rest`."""
        ring, w = self.ring, self.cfg["mqtt"]["window"]
        chunk = ring.peek(w)
        queued = self.connect([rec for _, rec in chunk] or rest[:w], keepalive)
        while chunk:
            flags = self.send([rec for _, rec in chunk], queued)
            queued = 0
            self._feed()
            last = 0
            for (seq, _), ok in zip(chunk, flags):
                if not ok:
                    break
                last = seq
            if last:
                ring.ack(last)
            if last != chunk[-1][0]:
                raise OSError("the broker did not acknowledge the buffered readings in time")
            chunk = ring.peek(w) if len(ring) else []
        if rest and not all(self.send(rest, queued)):
            # The broker stopped answering: waiting again for commands would only double the
            # time awake. What it did not acknowledge is kept (wake -> keep).
            raise OSError("the broker did not acknowledge the new readings in time")

    def drain_commands(self):
        """Take the commands the broker queued while the node slept: they all arrive before
        the answer to a PINGREQ sent after CONNECT."""
        c = self.client
        c.ping()
        for _ in range(32):
            if c.wait_msg(self.cfg["mqtt"]["timeout"]) is None:
                break
        prefix = self.cfg["mqtt"]["topic_prefix"]
        while self._commands:
            name, msg = self._commands.pop(0)
            answer = commands.handle(self, name, msg.decode() if isinstance(msg, bytes) else msg)
            self.log("node: command %s -> %s" % (name, answer))
            c.publish(prefix + "/reply", json.dumps(answer))
        c.ack_held()

    def publish_stats(self, now):
        st = self.state
        if not (self.stats_due or now - st.stats_t >= self.opt["stats_every_s"]):
            return
        buffered = len(self.ring) + len(st.pending)
        doc = status.stats(st, self.cfg, buffered, self.board.free_heap(), now)
        self.client.publish(self.cfg["mqtt"]["topic_prefix"] + "/stats", doc)
        st.stats_t = now
        self.stats_due = False

    def keep(self, unacked):
        """Readings not delivered: into RTC memory while a batch is filling, else to flash."""
        if not unacked:
            return
        st = self.state
        count = len(st.pending) + len(unacked)
        size = st.pending_bytes() + sum(len(r) + 1 for r in unacked)
        if not self.opt["durable"] and count <= self.opt["rtc_batch"] and size <= PENDING_ROOM:
            st.pending.extend(unacked)
            return
        self.store(st.pending + unacked)
        st.pending = []

    def store(self, records):
        """Into the flash ring buffer, in one commit."""
        before = self.ring.dropped
        self.ring.extend(records)
        self.state.dropped += self.ring.dropped - before
        self.log("node: stored n=%s in flash" % ",".join(str(reading.number(r)) for r in records))

    def _feed(self):
        if self.wdt:
            self.wdt.feed()

    # --- a wake, and what follows it ---

    def wake(self):
        st = self.state
        st.cycles += 1
        now = self.board.unix_time()
        if not clock.plausible(now):
            # After a power loss the clock starts at the epoch: set it before the readings
            # get their time (connect() says why if it cannot be set).
            try:
                self.board.wifi_up(self.cfg["wifi"], self.opt["wifi_timeout_ms"])
                clock.ensure(self.board, self.opt["ntp_host"], self.opt["ntp_port"])
                now = self.board.unix_time()
            except OSError as e:
                self.log("node: %s" % e)
        new = self.take_readings(now)
        if new and self.opt["durable"]:
            self.store(new)
            new = []
        stay = self.interval < self.opt["stay_connected_below_s"]
        rest = st.pending + new
        st.pending = []
        if rest or len(self.ring) or self.stats_due:
            try:
                self.deliver(rest, self.keepalive(stay))
                self.drain_commands()
                self.publish_stats(self.board.unix_time())
                st.attempt = 0
                if stay:
                    return self.stay_connected()
                self.client.publish(self.t_status, status.sleeping(
                    self.board.unix_time(), self.next_wake()), retain=True)
                self.client.disconnect()
            except (OSError, MQTTException, ValueError) as e:
                self.failed(e)
            finally:
                self.client = None
        self.keep([rec for rec in rest if not self.acked(rec)])
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

    def stay_connected(self):
        """Readings every interval over one connection; returns (to deep sleep) when it breaks."""
        st, c, board = self.state, self.client, self.board
        while True:
            self.save()
            left = (st.read_at - board.unix_time()) * 1000
            while left > 0:
                c.check_msg(1)              # commands, PINGRESP; PINGREQ when due
                self._feed()
                if self._commands:
                    self.drain_commands()
                board.idle(min(left, max(100, c.keepalive * 250)))
                left = (st.read_at - board.unix_time()) * 1000
            new = self.take_readings(board.unix_time())
            flags = self.send(new)
            if not all(flags):
                self.keep([r for r, ok in zip(new, flags) if not ok])
                raise OSError("the broker did not acknowledge a reading in time")
            self.publish_stats(board.unix_time())

    def next_wake(self):
        st = self.state
        now = self.board.unix_time()
        wait = max(1, st.read_at - now)
        if st.attempt and (st.pending or len(self.ring)):
            wait = min(wait, max(1, delay_ms(st.attempt) // 1000))
        return now + wait

    def save(self):
        self.board.rtc_save(self.state.encode())

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
                 % (sleep_s, len(self.ring), len(st.pending)))
        self.board.deepsleep(max(1, sleep_s) * 1000)


def main():
    board = boards.load()
    try:
        cfg = config.load(board.bundle_dir())
    except ValueError as e:
        # Nothing can work until the device is provisioned again: sleep long, not in a loop.
        print("node: %s" % e)
        board.deepsleep(3600 * 1000)
        return
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
        board.deepsleep(delay_ms(st.attempt))
