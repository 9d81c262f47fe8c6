# ESP8266 boards: deep sleep by an RTC alarm (GPIO16 must be wired to RST, or the board never
# wakes), 492 bytes of RTC user memory, automatic light sleep while idle, a watchdog whose
# timeout the system fixes.
import esp
import machine
import time

from node.board.espcommon import (bundle_dir, data_dir, free_heap, reset_cause, rtc_load,  # noqa: F401
                                  rtc_save, set_time, unix_time, wifi_down, wifi_up)

NAME = "esp8266"
RTC_BYTES = 492


def deepsleep(ms):
    rtc = machine.RTC()
    rtc.irq(trigger=rtc.ALARM0, wake=machine.DEEPSLEEP)
    rtc.alarm(rtc.ALARM0, ms)
    machine.deepsleep()


def idle(ms):
    # With SLEEP_LIGHT the SDK light-sleeps between DTIM beacons while the station stays
    # associated, so the MQTT connection survives the idle time.
    esp.sleep_type(esp.SLEEP_LIGHT)
    time.sleep_ms(ms)


def watchdog(timeout_ms):
    return machine.WDT()


def default_sensor():
    from node.sensors import ChipSensor
    return ChipSensor()
