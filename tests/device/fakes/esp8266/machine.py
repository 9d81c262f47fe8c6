# Fake `machine` of MicroPython's esp8266 port, as MicroPython 1.29 has it (ports/esp8266:
# modmachine.c, machine_rtc.c, machine_wdt.c); the values are the Non-OS SDK's that the port
# passes through. boot() starts a board; `calls` is what the code under test asked for.
from espmachine import DeepSleep, RTC as _RTC, WDT as _WDT  # noqa: F401
from espmachine import board, boot as _boot, calls, lightsleep, reset_cause, sleep_for  # noqa: F401
from mpargs import at_most, integer

# reset_cause(): the SDK's rst_reason. 2 (an exception) and 3 (the software watchdog) have no
# name in the port.
PWRON_RESET = 0        # REASON_DEFAULT_RST
WDT_RESET = 1          # REASON_WDT_RST
SOFT_RESET = 4         # REASON_SOFT_RESTART
DEEPSLEEP_RESET = 5    # REASON_DEEP_SLEEP_AWAKE
HARD_RESET = 6         # REASON_EXT_SYS_RST
# The one wake source, for RTC.irq(wake=...): another namespace than the reset causes.
DEEPSLEEP = 4

_FOREVER = 0           # the SDK's system_deep_sleep(0): no timer


def boot(cause=PWRON_RESET, rtc_memory=b""):
    _boot(cause, rtc_memory)


class RTC(_RTC):
    # 512 bytes of RTC memory less the port's own 20 (clock calibration, user length, magic).
    SIZE = 492
    ALARM0 = 0

    def irq(self, *, trigger=0, wake=0):
        # Keywords only; the only trigger is ALARM0.
        if integer(trigger) != 0:
            raise ValueError("invalid alarm")
        board["alarm_wake"] = integer(wake)
        calls.append(("rtc.irq", trigger, wake))

    def alarm(self, *args):
        # alarm(alarm_id, time_ms): two positional arguments, ALARM0 only. The fake's RTC stands
        # still, so the alarm is due time_ms after now, whenever deepsleep() comes.
        if len(args) != 2:
            raise TypeError("function takes 3 positional arguments but %d were given"
                            % (len(args) + 1))
        if integer(args[0]) != 0:
            raise ValueError("invalid alarm")
        board["alarm_us"] = integer(args[1]) * 1000
        calls.append(("rtc.alarm", args[0], args[1]))

    def alarm_left(self, *args):
        at_most(args, 1)
        if args and integer(args[0]) != 0:
            raise ValueError("invalid alarm")
        return max(0, board["alarm_us"]) // 1000


def deepsleep(*args):
    # The port's sleep time: the RTC alarm's, when irq() made it a wake source, capped at the
    # SDK's 32-bit microseconds (71.6 min); an argument (ms) is the most it sleeps.
    at_most(args, 1)
    us = _FOREVER
    if board["alarm_wake"] & DEEPSLEEP:
        us = min(max(1, board["alarm_us"]), 0xFFFFFFFF)
    if args:
        max_us = (max(1, integer(args[0])) * 1000) & 0xFFFFFFFF    # uint32 arithmetic
        if us == _FOREVER or max_us < us:
            us = max_us
    sleep_for(us or None)


class WDT(_WDT):
    def check(self, timeout):
        # The system fixes the ESP8266's timeout: the port refuses any other than the default.
        if timeout != 5000:
            raise ValueError()


boot()
