# umqtt.robust's reconnect, over node.mqtt.client as umqtt.robust is over umqtt.simple: swap
# `from umqtt.robust import MQTTClient` for `from node.mqtt.robust import MQTTClient` and a
# umqtt program runs unchanged. publish, wait_msg and check_msg reconnect and carry on when the
# connection breaks; reconnect() backs off from DELAY (1 s) to MAX_DELAY (120 s) with jitter
# (node.backoff) and raises GaveUp after reconnect_tries failures. Unlike umqtt.robust:
# - a refused login or TLS (MQTTRefused but "server unavailable", TLSError) is not retried:
#   it does not get better by trying again;
# - reconnect() keeps the caller's clean_session (umqtt.robust's False until connect() says);
# - a message waiting for its PUBACK goes again after the reconnect (same id, DUP), so a
#   publish never waits for an acknowledgement of a message the broker never got;
# - publish_many and wait_acks reconnect within their own deadline and return False at it.
from micropython import const

from node.backoff import delay_ms
from node.mqtt import client, many, packets, receive
from node.mqtt.client import MQTTException, MQTTRefused, ProtocolError  # noqa: F401

_ECONNABORTED = const(103)
_ENOTCONN = const(107)
_E_PUBACK = const(19)


class GaveUp(OSError):
    """reconnect() ran out of tries: args = (errno of the last failure, what happened)."""


def _errno(e):
    a = getattr(e, "args", None)
    return a[0] if a and isinstance(a[0], int) else _ECONNABORTED


class MQTTClient(client.MQTTClient):
    DELAY = 1          # s, first reconnect delay (umqtt.robust waits a fixed DELAY = 2 s)
    MAX_DELAY = 120    # s, the longest
    DEBUG = False

    def __init__(self, *args, reconnect_tries=10, **kw):
        super().__init__(*args, **kw)
        self.reconnect_tries = reconnect_tries
        self._clean = False
        # Failures in a row, connections that broke as soon as they were made included (a
        # broker that hangs up after CONNACK, another client taking the client id over): the
        # backoff before the next CONNECT grows with them, and only an operation that worked
        # starts it over. So no broker can make this client reconnect in a loop.
        self._fails = 0
        self._last = None

    def delay(self, i):
        self._clock.sleep_ms(self.backoff_ms(i))

    def backoff_ms(self, i):
        """The delay before try i + 1 (node.backoff.delay_ms: pure, kept across deep sleep)."""
        return delay_ms(i, None, int(self.DELAY * 1000), int(self.MAX_DELAY * 1000))

    def log(self, in_reconnect, e):
        if self.DEBUG:
            print("mqtt reconnect: %r" % e if in_reconnect else "mqtt: %r" % e)

    def connect(self, clean_session=True):
        self._clean = clean_session
        return super().connect(clean_session)

    def reconnect(self, deadline=None):
        """connect() again with the last clean_session, after a backoff delay when the last
        tries failed; GaveUp after reconnect_tries failures in a row, or when the next delay
        would end past `deadline` (ticks_ms). A refused login or TLS is raised at once."""
        clock = self._clock
        tries = 0
        while True:
            i = self._fails
            if i:
                if deadline is None:
                    self.delay(i)
                else:
                    d = self.backoff_ms(i)
                    if clock.ticks_diff(deadline, clock.ticks_ms()) < d:
                        raise GaveUp(_errno(self._last), "no connection to %s:%d before the "
                                     "deadline; last error: %s" % (self.server, self.port, self._last))
                    clock.sleep_ms(d)
            try:
                return super().connect(self._clean)
            except MQTTRefused as e:
                if e.code != 3:         # 3: server unavailable, worth another try
                    raise
                err = e
            except OSError as e:
                err = e
            self.log(True, err)
            self._last = err
            self._fails += 1
            tries += 1
            if tries >= self.reconnect_tries:
                raise GaveUp(_errno(err), "gave up after %d tries to connect to %s:%d; last error: "
                             "%s" % (tries, self.server, self.port, err))

    def _retry(self, op, *args):
        # umqtt.robust: a broken connection is reconnected and op run again; GaveUp when it
        # keeps failing.
        fails = 0
        while True:
            try:
                result = op(*args)
                self._fails = 0         # the connection works: the backoff starts over
                return result
            except OSError as e:
                self._close()
                self.log(False, e)
                self._last = e
                self._fails += 1
                fails += 1
                if fails >= self.reconnect_tries:
                    raise GaveUp(_errno(e), "gave up after %d failures: %s" % (fails, e))
            self.reconnect()

    def publish(self, topic, msg, retain=False, qos=0, pid=None, dup=False):
        if qos != 1 or self.window:
            return self._retry(super().publish, topic, msg, retain, qos, pid, dup)
        # Stop-and-wait: the message stays in flight across reconnects (each resends it with
        # DUP) until its PUBACK; when this gives up it is the caller's again.
        topic = packets.check_topic(topic)
        pid = self._take_pid(pid)
        self._pids.append(pid)
        self._pkts[pid] = packets.publish(topic, msg, 1, retain, pid, dup)
        try:
            self._retry(self._await, pid)
        except BaseException:
            self._forget(pid)
            raise
        return pid

    def _await(self, pid):
        # write what this connection has not seen, wait for pid's PUBACK: the client's
        # stop-and-wait, which the client keeps inline in publish() (as a method of its own
        # it made the client alone need 256 B more of heap)
        self._flush()
        deadline = self._after(self.timeout)
        while pid in self._pkts:
            self._next(deadline, _E_PUBACK)

    def wait_msg(self, timeout=None):
        return self._retry(receive.wait_msg, self, timeout)

    def check_msg(self, attempts=2):
        while attempts:
            try:
                result = receive.check_msg(self)
                self._fails = 0
                return result
            except OSError as e:
                self._close()
                self.log(False, e)
                self._last = e
                self._fails += 1
            self.reconnect()
            attempts -= 1

    def publish_many(self, messages, timeout=None):
        it = iter(messages)
        deadline = None if timeout is None else self._after(timeout)
        fails = 0
        while True:
            try:
                if self.sock is None:
                    raise OSError(_ENOTCONN, "not connected")
                left = None if deadline is None else max(0, self._clock.ticks_diff(
                    deadline, self._clock.ticks_ms())) / 1000
                result = many.publish_many(self, it, left)
                self._fails = 0
                return result
            except OSError as e:
                self._close()
                self.log(False, e)
                self._last = e
                self._fails += 1
                fails += 1
                try:
                    if fails >= self.reconnect_tries:
                        raise GaveUp(_errno(e), "gave up after %d failures: %s" % (fails, e))
                    self.reconnect(deadline)
                except GaveUp:
                    if deadline is not None:
                        return False
                    raise
