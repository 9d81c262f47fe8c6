# What the fakes of the esp32 and esp8266 ports' `machine` share (each port's values and
# differences are in fakes/<port>/machine.py): the board since its last boot (reset cause, RTC
# user memory, the ESP8266's RTC alarm), deep sleep as an exception, the watchdog's arguments,
# and `calls`, what the code under test asked for, in order.
from mpargs import at_most, buffer, fixed, integer

calls = []
board = {}


class DeepSleep(Exception):
    """Raised where the board powers down. args[0]: how long it sleeps, in microseconds, as
    the port computes it; None when no wake source is set (it sleeps until a reset)."""


def boot(cause, rtc_memory=b""):
    """A board that just started for `cause`, its RTC user memory holding rtc_memory."""
    board.clear()
    board.update(cause=cause, memory=bytes(rtc_memory), alarm_wake=0, alarm_us=0)
    del calls[:]


def reset_cause():
    return board["cause"]


def sleep_for(us):
    calls.append(("deepsleep", us))
    raise DeepSleep(us)


def lightsleep(*args):
    at_most(args, 1)
    calls.append(("lightsleep", integer(args[0]) if args else None))


class RTC:
    SIZE = 0               # bytes of RTC user memory: the port's

    def __init__(self, *args):
        at_most(args, 0)

    def memory(self, *args):
        at_most(args, 1)
        if not args:
            return board["memory"]
        data = buffer(args[0])
        if len(data) > self.SIZE:
            raise ValueError("buffer too long")
        board["memory"] = data

    def datetime(self, *args):
        at_most(args, 1)
        if not args:
            raise NotImplementedError("reading the fake RTC's clock is not modelled")
        for v in fixed(args[0], 8):
            integer(v)
        calls.append(("rtc.datetime", tuple(args[0])))


class WDT:
    # extmod/machine_wdt.c: WDT(id=0, timeout=5000), by position or keyword; the port checks.
    def __init__(self, id=0, timeout=5000):
        if type(id) is not int or id != 0:     # the port wants the small int 0 (not False)
            raise ValueError()
        timeout = integer(timeout)
        self.check(timeout)
        calls.append(("wdt", timeout))

    def check(self, timeout):
        pass

    def feed(self):
        calls.append(("wdt.feed",))
