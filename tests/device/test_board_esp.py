# The ESP32 and ESP8266 board adapters against fakes of machine/network/esp/ntptime that follow
# MicroPython's documented APIs (tests/device/fakes).
import os
import sys

sys.path.insert(0, os.getenv("DEVICE_TEST_DIR") + "/fakes")

import machine  # noqa: E402  (the fake)
import network  # noqa: E402
from mptest import eq, raises  # noqa: E402

WIFI = {"ssid": "lab", "password": "secret"}


def _boards():
    from node.board import esp32, esp8266
    return esp32, esp8266


def _radio(ap, polls=2):
    """A fresh access point situation, and a fresh station interface in the adapters."""
    import node.board.espcommon as common
    network.configure(ap=ap, polls=polls)
    common._wlan = None


def test_fakes_are_in_use():
    assert hasattr(machine, "configure"), "the real machine module was imported"


def test_wifi_connects_within_the_timeout():
    for board in _boards():
        _radio(("lab", "secret"), polls=3)
        board.wifi_up(WIFI, 5000)
        assert ("connect", "lab") in network.log


def test_wifi_wrong_password_and_missing_ap_fail_fast_with_the_reason():
    for board in _boards():
        _radio(("lab", "other"))
        err = raises(OSError, board.wifi_up, WIFI, 5000)
        assert "password" in str(err), str(err)
        _radio(None)
        err = raises(OSError, board.wifi_up, WIFI, 5000)
        assert "SSID" in str(err), str(err)
        # The radio is switched off again, not left searching on the battery.
        eq(network.log[-1], ("active", False), "radio off")


def test_wifi_timeout_is_bounded():
    import time
    esp32, _ = _boards()
    _radio(("lab", "secret"), polls=10 ** 9)
    t0 = time.ticks_ms()
    err = raises(OSError, esp32.wifi_up, WIFI, 300)
    assert "300 ms" in str(err), str(err)
    assert time.ticks_diff(time.ticks_ms(), t0) < 2000


def test_rtc_memory_round_trip_and_size_limits():
    esp32, esp8266 = _boards()
    machine.configure(rtc_size=esp8266.RTC_BYTES)
    esp8266.rtc_save(b"x" * 256)
    eq(esp8266.rtc_load(), b"x" * 256, "rtc")
    raises(ValueError, esp8266.rtc_save, b"x" * (esp8266.RTC_BYTES + 1))
    eq(esp8266.RTC_BYTES, 492, "ESP8266 RTC user memory")
    eq(esp32.RTC_BYTES, 2048, "ESP32 RTC user memory")


def test_esp8266_deepsleep_arms_the_rtc_alarm_first():
    _, esp8266 = _boards()
    machine.configure()
    raises(machine.DeepSleep, esp8266.deepsleep, 30000)
    eq(machine.calls, [("rtc.irq", 0, machine.DEEPSLEEP), ("rtc.alarm", 0, 30000), ("deepsleep", None)],
       "calls")


def test_esp32_deepsleep_uses_the_timer():
    esp32, _ = _boards()
    machine.configure()
    raises(machine.DeepSleep, esp32.deepsleep, 45000)
    eq(machine.calls, [("deepsleep", 45000)], "calls")


def test_idle_keeps_the_radio_in_power_save():
    import esp
    esp32, esp8266 = _boards()
    _radio(("lab", "secret"))
    esp8266.idle(1)
    eq(esp.sleep_type(), esp.SLEEP_LIGHT, "esp8266 sleep type")
    esp32.idle(1)
    assert ("config", {"pm": network.WLAN.PM_POWERSAVE}) in network.log, network.log


def test_reset_cause_names():
    esp32, _ = _boards()
    for value, name in ((machine.DEEPSLEEP_RESET, "deepsleep"), (machine.PWRON_RESET, "power"),
                        (machine.WDT_RESET, "wdt"), (machine.SOFT_RESET, "soft")):
        machine.configure(reset_cause=value)
        eq(esp32.reset_cause(), name, "cause")


def test_set_time_writes_the_rtc_in_utc():
    esp32, _ = _boards()
    machine.configure()
    esp32.set_time(1767225600 + 3723)  # 2026-01-01 01:02:03 UTC, a Thursday
    eq(machine.calls, [("rtc.datetime", (2026, 1, 1, 3, 1, 2, 3, 0))], "calls")


def test_watchdog():
    esp32, esp8266 = _boards()
    machine.configure()
    esp32.watchdog(500).feed()
    esp8266.watchdog(30000).feed()
    # ESP32's minimum is 1 s; ESP8266's timeout is fixed by the system (none passed).
    eq(machine.calls, [("wdt", 1000), ("wdt", 5000)], "wdt calls")
