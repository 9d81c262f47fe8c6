# What ESP32 and ESP8266 boards share: Wi-Fi station, RTC memory, the clock, reset cause.
# Only documented MicroPython APIs: network.WLAN, machine.RTC, machine.reset_cause.
import gc
import time

import machine
import network

# Ports whose epoch is 2000-01-01 report time() that much below Unix time.
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0

_wlan = None


def _sta():
    global _wlan
    if _wlan is None:
        iface = getattr(network.WLAN, "IF_STA", None)
        _wlan = network.WLAN(network.STA_IF if iface is None else iface)
    return _wlan


# network.STAT_* values that will not get better by waiting, and what to do about them.
def _hopeless(status):
    if status == getattr(network, "STAT_WRONG_PASSWORD", None):
        return "Wi-Fi refused the password: check wifi.password in config.json"
    if status == getattr(network, "STAT_NO_AP_FOUND", None):
        return "no access point with that SSID in range: check wifi.ssid"
    if status == getattr(network, "STAT_CONNECT_FAIL", None):
        return "Wi-Fi connection failed"
    return None


def wifi_up(wifi_cfg, timeout_ms):
    """Connect the station interface within timeout_ms; OSError with the reason when it fails."""
    wlan = _sta()
    wlan.active(True)
    if wlan.isconnected():
        return
    # ESP32's driver keeps the last failure's reason until it reports again, also across
    # active(False) and connect(): a status seen before connect() tells nothing of this attempt.
    stale = wlan.status()
    wlan.connect(wifi_cfg["ssid"], wifi_cfg["password"])
    start = time.ticks_ms()
    while not wlan.isconnected():
        status = wlan.status()
        if status != stale:
            stale = None
            why = _hopeless(status)
            if why:
                wlan.active(False)
                raise OSError(why)
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            wlan.active(False)
            raise OSError("Wi-Fi did not connect within %d ms" % timeout_ms)
        time.sleep_ms(50)


def wifi_down():
    _sta().active(False)


def rtc_load():
    return machine.RTC().memory()


def rtc_save(data):
    machine.RTC().memory(data)


def unix_time():
    return time.time() + EPOCH_OFFSET


def set_time(unix_t):
    """Set the RTC (UTC) from a Unix time, e.g. one node.sntp fetched."""
    tm = time.gmtime(unix_t - EPOCH_OFFSET)
    # RTC.datetime: (year, month, day, weekday 0-6, hours, minutes, seconds, subseconds)
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))


_CAUSES = (
    ("DEEPSLEEP_RESET", "deepsleep"),
    ("PWRON_RESET", "power"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "wdt"),
    ("SOFT_RESET", "soft"),
)


def reset_cause():
    cause = machine.reset_cause()
    for const_name, name in _CAUSES:
        if cause == getattr(machine, const_name, None):
            return name
    return "other"


def free_heap():
    gc.collect()
    return gc.mem_free()


def bundle_dir():
    # The device bundle is copied to the root of the board's filesystem.
    return ""


def data_dir():
    # The board's own filesystem is littlefs v2 (the default since MicroPython 1.13).
    return "/data"
