# The cost model of a wake's network steps: the published measurements it rests on, in one
# place, for the unix board (simradio prices each step it simulates) and for the host
# (`make bench`, `host_tools budget`). Plain data: it runs under MicroPython and CPython.
#
# Times are milliseconds, currents milliamperes, all per board. Where no measurement of a
# board was found, the other board's figure stands in, and SOURCES says so.

SOURCES = (
    ("mueller", "John Mueller, \"ESP8266 wifi connection speed optimization\" (2022): "
     "connect with a scan and DHCP 4,001 ms; BSSID and channel given, static IP 1,259 ms; "
     "the same with the SDK's saved state 168 ms (to an MQTT publish)",
     "https://johnmu.com/2022-esp8266-wifi-speed/"),
    ("flogics", "flogics, \"ESP8266 起動から Wi-Fi 接続までの時間を実測してみた\" (2016): from "
     "deep sleep, Wi-Fi up with DHCP after about 2,964 ms, with a static IP after about 400 ms",
     "https://flogics.com/wp/ja/2016/09/esp8266-起動から-wi-fi-接続までの時間を実測してみた"),
    ("voneicken", "Thorsten von Eicken, \"ESP32 Deep-Sleep with Periodic Wake-up\" (2018): "
     "ESP32 boot about 270 ms; Wi-Fi with every parameter given (BSSID, channel, static IP) "
     "and a TCP connection about 200 ms",
     "https://blog.voneicken.com/2018/lp-wifi-esp32-2/"),
    ("pokewithastick", "pokewithastick, \"ESP8266 wake from deep-sleep power profile\" (2022): "
     "reset to the first instruction of the program 113 ms",
     "https://pokewithastick.net/?m=202202"),
    ("crondk", "cron.dk, \"ESP8266 on batteries for years - part 5\": an ESP8266 wake with "
     "Wi-Fi averages 78 mA",
     "https://www.cron.dk/esp8266-on-batteries-for-years-part-5/"),
    ("esp8266ds", "Espressif, ESP8266EX Datasheet, power consumption: deep sleep 20 uA",
     "https://www.espressif.com/sites/default/files/documentation/0a-esp8266ex_datasheet_en.pdf"),
    ("esp32ds", "Espressif, ESP32 Series Datasheet, power consumption: receive 95-100 mA, "
     "deep sleep with the RTC timer and RTC memory 10 uA",
     "https://www.espressif.com/sites/default/files/documentation/esp32_datasheet_en.pdf"),
    ("w25q32", "Winbond, W25Q32JV datasheet, AC characteristics: page program (256 B) 0.4 ms, "
     "4 KB sector erase 45 ms (typical)",
     "https://www.winbond.com/resource-files/w25q32jv%20revg%2003272018%20plus.pdf"),
    ("batteries", "Nominal capacities from the makers' datasheets: Energizer E91 (AA alkaline) "
     "about 2,500 mAh at a 100 mA drain; Panasonic NCR18650B 3,200 mAh minimum",
     "https://data.energizer.com/pdfs/e91.pdf"),
)

# The phases of a wake, in order.
PHASES = ("boot", "association", "DHCP", "DNS", "TCP+TLS", "MQTT", "flash writes")

BOARDS = {
    "esp8266": {
        "boot_ms": 113,             # pokewithastick
        "scan_ms": 1437,            # mueller 4,001 ms with DHCP, less DHCP (below)
        "fast_ms": 168,             # mueller: the SDK's saved state (no connect() call)
        "dhcp_ms": 2564,            # flogics: DHCP 2,964 ms against static 400 ms
        "awake_ma": 78.0,           # crondk, averaged over a wake
        "sleep_ua": 20.0,           # esp8266ds
    },
    "esp32": {
        "boot_ms": 270,             # voneicken
        "scan_ms": 1437,            # no ESP32 measurement found: ESP8266's (mueller)
        "fast_ms": 200,             # voneicken: BSSID, channel, static IP (TCP included)
        "dhcp_ms": 2564,            # no ESP32 measurement found: ESP8266's (flogics)
        "awake_ma": 100.0,          # esp32ds, receive
        "sleep_ua": 10.0,           # esp32ds
    },
}

RTT_MS = 10             # a round trip on the LAN; not a measurement: `budget --rtt-ms`
VOLTS = 3.3
PAGE_MS = 0.4           # w25q32: page program, per 256 B
ERASE_MS = 45.0         # w25q32: 4 KB sector erase
BATTERIES = (("2xAA", 2500), ("18650", 3200))      # batteries
INTERVALS_S = (60, 120, 300, 600, 900, 1800, 3600)

# A fast association that misses (the access point moved) costs what a scan costs: the radio
# looks for the BSSID on every channel before it gives up.
