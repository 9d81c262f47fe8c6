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


_NO_AP = "no access point with that SSID in range: check wifi.ssid"


# network.STAT_* values that will not get better by waiting, and what to do about them.
def _hopeless(status):
    if status == getattr(network, "STAT_WRONG_PASSWORD", None):
        return "Wi-Fi refused the password: check wifi.password in config.json"
    if status == getattr(network, "STAT_NO_AP_FOUND", None):
        return _NO_AP
    if status == getattr(network, "STAT_CONNECT_FAIL", None):
        return "Wi-Fi connection failed"
    return None


def _wait(wlan, start, timeout_ms, stale):
    """None once the station has its IP configuration, else why it will not. stale: the
    status seen before connect(); ESP32's driver keeps the last failure's reason until it
    reports again, also across active(False) and connect(), so it tells nothing of this
    attempt."""
    while not wlan.isconnected():
        status = wlan.status()
        if status != stale:
            stale = None
            why = _hopeless(status)
            if why:
                return why
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            return "Wi-Fi did not connect within %d ms" % timeout_ms
        time.sleep_ms(50)
    return None


def _strongest(wlan, ssid):
    # WLAN.scan(): (ssid, bssid, channel, RSSI, security, hidden) per access point.
    want = ssid.encode()
    best = None
    for net in wlan.scan():
        if net[0] == want and (best is None or net[3] > best[3]):
            best = net
    return best


def associate(join, wifi_cfg, timeout_ms, cache=None, now=0, lease_s=0, fresh=False):
    """Connect the station interface within timeout_ms; OSError with the reason when it fails.

    First from what is known: join(wlan, ssid, key, ap) decides per port how (False: nothing
    to join from), with the IP configuration of a young lease from the cache (node.netcache)
    or wifi.static set instead of DHCP. When that fails, or with fresh: with a cache, a scan
    picks the strongest access point of the SSID, DHCP runs and the cache learns both;
    without one, connect(ssid, key). Returns the path: "up" (already connected), "fast",
    "scan" or "connect"."""
    wlan = _sta()
    if not wlan.active():
        wlan.active(True)
    if fresh:
        wlan.disconnect()
    elif wlan.isconnected():
        return "up"
    ssid, key = wifi_cfg["ssid"], wifi_cfg["password"]
    fixed = wifi_cfg.get("static")
    start = time.ticks_ms()
    ip, ap = fixed, None
    if cache is not None and not fresh:
        from node import netcache
        ip = ip or netcache.ipconfig(cache, ssid, now, lease_s)
        ap = netcache.ap(cache, ssid)
    if ip:
        wlan.ifconfig(tuple(ip))
    stale = wlan.status()
    if not fresh and join(wlan, ssid, key, ap):
        if _wait(wlan, start, timeout_ms // 2, stale) is None:
            _learned(wlan, cache, ssid, None, ip, now)
            return "fast"
        wlan.disconnect()
    if not fixed and (ip or fresh):
        wlan.ipconfig(dhcp4=True)       # the kept configuration failed, or may: DHCP again
    best = None
    stale = wlan.status()
    if cache is None:
        wlan.connect(ssid, key)
    else:
        best = _strongest(wlan, ssid)
        if best is None:
            wlan.active(False)
            raise OSError(_NO_AP)
        wlan.connect(ssid, key, bssid=best[1])
    why = _wait(wlan, start, timeout_ms, stale)
    if why:
        wlan.active(False)
        raise OSError(why)
    if best is None:
        return "connect"
    _learned(wlan, cache, ssid, best, ip, now)
    return "scan"


def _learned(wlan, cache, ssid, best, ip, now):
    # The access point joined (the scan's, or the one kept), and the lease when DHCP ran.
    if cache is not None:
        from node import netcache
        netcache.learned(cache, ssid, best and best[1], best[2] if best else wlan.config("channel"),
                         None if ip else wlan.ifconfig(), now)


def resolve(host, port):
    """The broker's IPv4 address as text, from the resolver (socket.getaddrinfo: one DNS round
    trip; the ESP ports give the address as ("a.b.c.d", port))."""
    import socket
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1][0]


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
