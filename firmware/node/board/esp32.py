# ESP32 boards: deep sleep with a timer (machine.deepsleep), 2 KB of RTC user memory,
# idle with the radio in power-save so the TCP connection stays up, a watchdog.
import machine
import network
import time

from node.board.espcommon import (bundle_dir, data_dir, free_heap, reset_cause, rtc_load,  # noqa: F401
                                  rtc_save, set_time, unix_time, wifi_down, wifi_up, _sta)

NAME = "esp32"
RTC_BYTES = 2048


def deepsleep(ms):
    machine.deepsleep(ms)


def idle(ms):
    # Modem sleep between beacons keeps the association and the TCP session alive.
    pm = getattr(network.WLAN, "PM_POWERSAVE", None)
    if pm is not None:
        try:
            _sta().config(pm=pm)
        except (OSError, ValueError):
            pass
    time.sleep_ms(ms)


def watchdog(timeout_ms):
    return machine.WDT(timeout=max(1000, timeout_ms))


def default_sensor():
    from node.sensors import ChipSensor
    return ChipSensor()
