# ESP32 boards: deep sleep with a timer (machine.deepsleep), 2 KB of RTC user memory,
# idle with the radio in power-save so the TCP connection stays up, a watchdog.
import machine
import network
import time

from node.board.espcommon import (associate, bundle_dir, data_dir, free_heap, reset_cause,  # noqa: F401
                                  resolve, rtc_load, rtc_save, set_time, unix_time, wifi_down,
                                  _sta)

NAME = "esp32"
RTC_BYTES = 2048


def _join(wlan, ssid, key, ap):
    # The station config lives in RAM here (nothing saved across deep sleep): the access point
    # kept is joined directly, its channel where the scan starts (WLAN.config(channel=...)).
    if not ap:
        return False
    bssid, channel = ap
    if channel:
        wlan.config(channel=channel)
    if bssid:
        wlan.connect(ssid, key, bssid=bssid)
    else:
        wlan.connect(ssid, key)
    return True


def wifi_up(wifi_cfg, timeout_ms, cache=None, now=0, lease_s=0, fresh=False):
    return associate(_join, wifi_cfg, timeout_ms, cache, now, lease_s, fresh)


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
