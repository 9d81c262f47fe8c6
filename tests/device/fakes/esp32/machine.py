# Fake `machine` of MicroPython's esp32 port, as MicroPython 1.29 has it (ports/esp32:
# modmachine.c, machine_rtc.c, machine_wdt.c). boot() starts a board; `calls` is what the code
# under test asked for. Its RTC has no irq() or alarm(): the ESP32 sleeps by a timer.
from espmachine import DeepSleep, RTC as _RTC, WDT as _WDT  # noqa: F401
from espmachine import boot as _boot, calls, lightsleep, reset_cause, sleep_for  # noqa: F401
from mpargs import at_most, integer

# reset_cause(): the port's own numbering of ESP-IDF's reset reasons. 0 is what it returns for
# the reasons it does not name (SDIO, unknown).
PWRON_RESET = 1        # power on, brownout
HARD_RESET = 2         # esp_restart(), a panic, the EN pin
WDT_RESET = 3          # interrupt, task and other watchdogs
DEEPSLEEP_RESET = 4
SOFT_RESET = 5         # machine.soft_reset(), Ctrl-D
# Wake abilities, for Pin.irq(wake=...).
SLEEP = 2
DEEPSLEEP = 4


def boot(cause=PWRON_RESET, rtc_memory=b""):
    _boot(cause, rtc_memory)


class RTC(_RTC):
    SIZE = 2048            # MICROPY_HW_RTC_USER_MEM_MAX


def deepsleep(*args):
    # esp_sleep_enable_timer_wakeup(ms * 1000), a uint64: a negative time sleeps ~forever.
    at_most(args, 1)
    sleep_for((integer(args[0]) * 1000) & 0xFFFFFFFFFFFFFFFF if args else None)


class WDT(_WDT):
    def check(self, timeout):
        if timeout <= 0:
            raise ValueError("WDT timeout too short")


boot()
