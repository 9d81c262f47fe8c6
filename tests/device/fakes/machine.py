# Fake `machine` for board adapter tests, following MicroPython's documented API of the ESP
# ports (machine.RTC, machine.deepsleep, machine.reset_cause, machine.WDT). Configure it with
# configure(); it records what the code under test asked for in `calls`.
PWRON_RESET = 0
HARD_RESET = 1
WDT_RESET = 2
DEEPSLEEP_RESET = 3
SOFT_RESET = 4
DEEPSLEEP = 4          # the wake value for RTC.irq on ESP8266

calls = []
_rtc_memory = bytearray()
_rtc_size = 2048
_reset_cause = PWRON_RESET


class DeepSleep(Exception):
    """Raised where the real machine.deepsleep() would power the chip down."""


def configure(rtc_size=2048, reset_cause=PWRON_RESET, rtc_memory=b""):
    global _rtc_size, _reset_cause, _rtc_memory
    _rtc_size = rtc_size
    _reset_cause = reset_cause
    _rtc_memory = bytearray(rtc_memory)
    del calls[:]


class RTC:
    ALARM0 = 0

    def memory(self, data=None):
        global _rtc_memory
        if data is None:
            return bytes(_rtc_memory)
        if len(data) > _rtc_size:
            # What the ports do when the buffer exceeds their RTC user memory.
            raise ValueError("buffer too long")
        _rtc_memory = bytearray(data)

    def datetime(self, dt=None):
        if dt is None:
            raise NotImplementedError("reading the fake RTC's date is not modelled")
        if len(dt) != 8 or not 1 <= dt[1] <= 12 or not 0 <= dt[3] <= 6:
            raise ValueError("RTC.datetime takes (year, month, day, weekday, h, m, s, subsec)")
        calls.append(("rtc.datetime", tuple(dt)))

    def irq(self, trigger=None, wake=None):
        calls.append(("rtc.irq", trigger, wake))

    def alarm(self, alarm_id, ms):
        calls.append(("rtc.alarm", alarm_id, ms))


def deepsleep(ms=None):
    calls.append(("deepsleep", ms))
    raise DeepSleep(ms)


def lightsleep(ms=None):
    calls.append(("lightsleep", ms))


def reset_cause():
    return _reset_cause


class WDT:
    def __init__(self, id=0, timeout=5000):
        calls.append(("wdt", timeout))
        self.fed = 0

    def feed(self):
        self.fed += 1
