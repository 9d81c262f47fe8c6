# ESP8266 boards: deep sleep by an RTC alarm (GPIO16 must be wired to RST, or the board never
# wakes), 492 bytes of RTC user memory, automatic light sleep while idle, a watchdog whose
# timeout the system fixes.
import esp
import machine
import network
import time

from node.board.espcommon import (associate, bundle_dir, data_dir, free_heap, reset_cause,  # noqa: F401
                                  resolve, rtc_load, rtc_save, set_time, unix_time, wifi_down)

NAME = "esp8266"
RTC_BYTES = 492


def _join(wlan, ssid, key, ap):
    # The SDK joins at boot from the station config it saved in flash: a connect() would save
    # it again (wifi_station_set_config writes flash) and start the association over. So
    # connect() only when that config is for another SSID or the SDK is not joining, with the
    # access point kept (saved with it, the next boots join it without a scan).
    if wlan.config("ssid") == ssid and wlan.status() in (network.STAT_CONNECTING,
                                                         network.STAT_GOT_IP):
        return True
    if ap and ap[0]:
        wlan.connect(ssid, key, bssid=ap[0])
        return True
    return False


def wifi_up(wifi_cfg, timeout_ms, cache=None, now=0, lease_s=0, fresh=False):
    return associate(_join, wifi_cfg, timeout_ms, cache, now, lease_s, fresh)


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
