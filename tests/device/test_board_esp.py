# The ESP32 and ESP8266 board adapters (firmware/node/board), each on fakes of its own port's
# machine, network and esp (tests/device/fakes/<port>), whose values and behaviour are those of
# MicroPython 1.29's ports/esp32 and ports/esp8266. Every test runs once per port; what the two
# boards do differently, the fakes do differently, and a call the board refuses fails here too.
import os
import sys
import time

PORTS = "esp32 esp8266"
PORT = os.getenv("DEVICE_PORT")
_FAKES = os.getenv("DEVICE_TEST_DIR") + "/fakes"
sys.path[:0] = [_FAKES + "/" + PORT, _FAKES]

import esp  # noqa: E402  (the port's fake)
import espboard  # noqa: E402
import espnetwork  # noqa: E402
import machine  # noqa: E402
import network  # noqa: E402
from mptest import eq, raises  # noqa: E402

board = espboard.adapter(PORT)

WIFI = {"ssid": "lab", "password": "secret"}


def _air(ap, steps=2, wrong_key=15):
    """A board that just started, with this access point in range (see espnetwork.configure)."""
    espboard.start(ap=ap, steps=steps, wrong_key=wrong_key)


def _wifi_fails(timeout_ms):
    """wifi_up's error, which must come within 2 s and leave the radio off."""
    t0 = time.ticks_ms()
    err = raises(OSError, board.wifi_up, WIFI, timeout_ms)
    assert time.ticks_diff(time.ticks_ms(), t0) < 2000, "wifi_up took too long"
    eq(espnetwork.log[-1], ("active", False), "the radio is switched off again")
    return str(err)


def test_fakes_of_the_port_are_in_use():
    eq(machine.DEEPSLEEP_RESET, {"esp32": 4, "esp8266": 5}[PORT], "machine.DEEPSLEEP_RESET")
    eq(network.STAT_IDLE, {"esp32": 1000, "esp8266": 0}[PORT], "network.STAT_IDLE")


def test_wifi_connects_within_the_timeout():
    _air(("lab", "secret"), steps=3)
    board.wifi_up(WIFI, 5000)
    assert network.WLAN(network.STA_IF).isconnected()
    eq(espnetwork.log, [("active", True), ("connect", "lab")], "radio")


def test_wifi_without_the_access_point_fails_fast():
    _air(None)
    err = _wifi_fails(5000)
    assert "SSID" in err, err


def test_wifi_wrong_password_fails_fast_where_the_port_names_it():
    # The ESP8266's SDK names a wrong key; so does an ESP32 whose AP answers it with ESP-IDF's
    # 202 (AUTH_FAIL).
    _air(("lab", "other"), wrong_key=202)
    err = _wifi_fails(5000)
    assert "password" in err, err


def test_wifi_wrong_password_unnamed_ends_at_the_timeout():
    # Most APs answer a wrong WPA2 key by letting the 4-way handshake time out (ESP-IDF's 15,
    # or 204): an ESP32's status() then stays STAT_CONNECTING while its driver retries, and
    # only the adapter's own timeout ends the attempt. The ESP8266's SDK names it still.
    for reason in (15, 204):
        _air(("lab", "other"), wrong_key=reason)
        err = _wifi_fails(300)
        assert ("within 300 ms" if PORT == "esp32" else "password") in err, err


def test_the_fakes_status_while_a_wrong_key_is_retried():
    # An ESP32 retries for ever and shows a handshake timeout (15) as STAT_CONNECTING; the
    # ESP8266's SDK ends the attempt with STAT_WRONG_PASSWORD.
    _air(("lab", "other"), wrong_key=15)
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect("lab", "secret")
    seen = [wlan.status() for _ in range(10)]
    want = {"esp32": [1001] * 10, "esp8266": [1] + [2] * 9}[PORT]
    eq(seen, want, "status() after connect()")


def test_wifi_timeout_is_bounded():
    _air(("lab", "secret"), steps=10 ** 9)
    err = _wifi_fails(300)
    assert "300 ms" in err, err


def test_wifi_tries_again_after_a_failure_in_the_same_boot():
    # A wake may bring Wi-Fi up twice (for the clock, then for the broker). ESP32's driver keeps
    # the last failure's reason across active(False) and the next connect(), so status() shows
    # the old failure until the new attempt ends: it must not end the new attempt.
    _air(None, steps=6)
    _wifi_fails(5000)
    espnetwork.air["aps"] = [espnetwork.AP("lab", "secret")]
    board.wifi_up(WIFI, 5000)
    assert network.WLAN(network.STA_IF).isconnected()


def test_rtc_memory_holds_what_the_port_holds():
    machine.boot()
    board.rtc_save(b"x" * board.RTC_BYTES)
    eq(board.rtc_load(), b"x" * board.RTC_BYTES, "rtc")
    raises(ValueError, board.rtc_save, b"x" * (board.RTC_BYTES + 1))


def test_deepsleep_sleeps_for_the_time_asked():
    # The fakes compute the sleep as the ports do: the ESP32 by its timer, the ESP8266 by the
    # RTC alarm, which does not wake it unless RTC.irq made the alarm a wake source.
    machine.boot()
    err = raises(machine.DeepSleep, board.deepsleep, 30000)
    eq(err.args[0], 30000 * 1000, "microseconds asleep")


def test_deepsleep_longer_than_an_esp8266_can():
    # The ESP8266's timer counts 32-bit microseconds: asked for 2 h it wakes after 71.6 min (and
    # the node sleeps again); the ESP32 sleeps it all.
    machine.boot()
    err = raises(machine.DeepSleep, board.deepsleep, 2 * 3600 * 1000)
    eq(err.args[0], {"esp32": 7200 * 10 ** 6, "esp8266": 0xFFFFFFFF}[PORT], "microseconds asleep")


def test_idle_keeps_the_radio_in_power_save():
    _air(("lab", "secret"))
    board.wifi_up(WIFI, 5000)
    board.idle(1)
    eq(network.WLAN(network.STA_IF).config("pm"), network.WLAN.PM_POWERSAVE, "power management")


def test_reset_cause_names():
    for const, name in (("DEEPSLEEP_RESET", "deepsleep"), ("PWRON_RESET", "power"),
                        ("HARD_RESET", "hard"), ("WDT_RESET", "wdt"), ("SOFT_RESET", "soft")):
        machine.boot(getattr(machine, const))
        eq(board.reset_cause(), name, const)
    # Causes the port does not name: ESP32's unknown ones; the ESP8266's exception and
    # software watchdog resets.
    for cause in {"esp32": (0,), "esp8266": (2, 3)}[PORT]:
        machine.boot(cause)
        eq(board.reset_cause(), "other", "cause %d" % cause)


def test_set_time_writes_the_rtc_in_utc():
    machine.boot()
    board.set_time(1767225600 + 3723)  # 2026-01-01 01:02:03 UTC, a Thursday
    eq(machine.calls, [("rtc.datetime", (2026, 1, 1, 3, 1, 2, 3, 0))], "calls")


def test_watchdog():
    machine.boot()
    board.watchdog(30000).feed()
    # The ESP8266's timeout is the system's: its port refuses any but the default.
    eq(machine.calls, [("wdt", {"esp32": 30000, "esp8266": 5000}[PORT]), ("wdt.feed",)], "calls")


def test_the_fakes_refuse_what_the_port_refuses():
    machine.boot()
    _air(None)
    rtc = machine.RTC()
    wlan = network.WLAN(network.STA_IF)
    wrong = [
        (TypeError, machine.deepsleep, (1000, 1), {}),
        (TypeError, machine.deepsleep, (1.5,), {}),
        (OverflowError, machine.deepsleep, (1 << 31,), {}),
        (TypeError, machine.RTC, (0,), {}),
        (ValueError, rtc.memory, (bytes(machine.RTC.SIZE + 1),), {}),
        (ValueError, rtc.datetime, ((2026, 1, 1),), {}),
        (ValueError, machine.WDT, (), {"id": 1}),
        (ValueError, network.WLAN, (2,), {}),
        (TypeError, network.WLAN, (), {"interface_id": 0}),
        (TypeError, wlan.connect, (), {"ssid": "lab", "key": "secret"}),
        (TypeError, wlan.connect, ("lab", "secret", b"\x00" * 6), {}),   # bssid= only
        (OSError, wlan.connect, ("lab", "secret"), {}),       # the station is not active
        (ValueError, wlan.config, (), {"powersave": 1}),
        (TypeError, wlan.config, ("pm",), {"pm": 1}),
    ]
    if PORT == "esp8266":
        wrong += [
            (TypeError, rtc.irq, (rtc.ALARM0, machine.DEEPSLEEP), {}),   # keywords only
            (TypeError, rtc.irq, (), {"trigger": rtc.ALARM0, "handler": None}),
            (ValueError, rtc.irq, (), {"trigger": 1, "wake": machine.DEEPSLEEP}),
            (ValueError, rtc.alarm, (1, 1000), {}),                     # ALARM0 only
            (TypeError, rtc.alarm, (rtc.ALARM0,), {"time": 1000}),
            (ValueError, machine.WDT, (), {"timeout": 30000}),
            (AttributeError, getattr, (machine, "SLEEP"), {}),
        ]
    else:
        wrong += [
            (AttributeError, getattr, (rtc, "irq"), {}),
            (AttributeError, getattr, (rtc, "alarm"), {}),
            (AttributeError, getattr, (machine.RTC, "ALARM0"), {}),
            (AttributeError, getattr, (esp, "sleep_type"), {}),
            (ValueError, machine.WDT, (), {"timeout": 0}),
        ]
    for exc, fn, args, kw in wrong:
        try:
            raises(exc, fn, *args, **kw)
        except AssertionError:
            raise AssertionError("%r %r %r: %s not raised" % (fn, args, kw, exc.__name__))
