# Fake `esp` of MicroPython's esp8266 port (ports/esp8266/modesp.c, MicroPython 1.29): the SDK's
# sleep type, which network.WLAN.config(pm=...) sets too, and esp.deepsleep(). The values are
# the Non-OS SDK's sleep_type.
from espmachine import sleep_for
from mpargs import at_most, integer

SLEEP_NONE = 0         # NONE_SLEEP_T
SLEEP_LIGHT = 1        # LIGHT_SLEEP_T
SLEEP_MODEM = 2        # MODEM_SLEEP_T

sdk = {"sleep_type": SLEEP_MODEM}   # the SDK's default for a station


def sleep_type(*args):
    at_most(args, 1)
    if not args:
        return sdk["sleep_type"]
    sdk["sleep_type"] = integer(args[0])


def deepsleep(*args):
    # deepsleep(time_us=0, option): 0 sleeps until a reset. Unlike machine.deepsleep(), it
    # ignores the RTC alarm.
    at_most(args, 2)
    us = (integer(args[0]) & 0xFFFFFFFF) if args else 0
    sleep_for(us or None)
