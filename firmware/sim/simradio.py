# The unix board's radio: association, DHCP and DNS as steps, each priced by radiomodel and
# written to radio.log in the simulation folder, one line per step: "<step> <path> <ms>".
#   assoc fast|missed|scan    joined from what the node kept | that failed | a scan of every
#                             channel (the fallback, and a wake with nothing kept)
#   ip kept|static|expired    the node set a kept or fixed configuration; "expired": it set one
#                             whose lease the DHCP server no longer holds (must never happen)
#   dhcp lease                DHCP ran
#   dns lookup                a DNS lookup (none: the node used the address it kept)
# What the network looks like is in files a test may change between wakes:
#   ap      "<bssid hex> <channel>" of the access point (one is made up on first use)
#   dns     lines "<name> <IPv4 address>": what DNS answers (else the host's resolver)
#   lease   "<address> <granted at> <lease s>": the DHCP server's lease (lease s: from the
#           file `dhcp-lease-s`, default 3600)
# The board priced (radiomodel.BOARDS) is $NODE_SIM_BOARD, default esp8266.
import os

import radiomodel

_AP = "02a0c9000001 6"


def _board():
    return radiomodel.BOARDS[os.getenv("NODE_SIM_BOARD") or "esp8266"]


def _text(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _put(path, text):
    with open(path, "w") as f:
        f.write(text)


def _log(sim, step, path, ms):
    with open(sim + "/radio.log", "a") as f:
        f.write("%s %s %d\n" % (step, path, ms))


def access_point(sim):
    text = _text(sim + "/ap")
    if not text:
        _put(sim + "/ap", _AP)
        text = _AP
    bssid, channel = text.split()
    return bytes(int(bssid[i:i + 2], 16) for i in range(0, 12, 2)), int(channel)


def _lease(sim, now):
    """The DHCP server grants (or renews) 10.0.0.23/24 and remembers when."""
    lease_s = int(_text(sim + "/dhcp-lease-s", "3600"))
    _put(sim + "/lease", "10.0.0.23 %d %d" % (now, lease_s))
    return ("10.0.0.23", "255.255.255.0", "10.0.0.1", "10.0.0.1")


def _holds(sim, addr, now):
    parts = _text(sim + "/lease").split()
    return len(parts) == 3 and parts[0] == addr and now - int(parts[1]) < int(parts[2])


def join(sim, netcache, wifi_cfg, cache, now, lease_s, fresh):
    """The steps of one association, as the ESP adapters take them; returns the path."""
    board = _board()
    ssid = (wifi_cfg or {}).get("ssid") or "sim"
    fixed = (wifi_cfg or {}).get("static")
    bssid, channel = access_point(sim)
    ip = fixed
    fast = False
    if cache is not None and not fresh:
        ip = ip or netcache.ipconfig(cache, ssid, now, lease_s)
        kept = netcache.ap(cache, ssid)
        if kept:
            fast = kept[1] == channel and kept[0] in (None, bssid)
            _log(sim, "assoc", "fast" if fast else "missed",
                 board["fast_ms"] if fast else board["scan_ms"])
    if not fast:
        _log(sim, "assoc", "scan", board["scan_ms"])
    if fast and ip and not fixed:
        _log(sim, "ip", "kept" if _holds(sim, ip[0], now) else "expired", 0)
    elif fixed:
        _log(sim, "ip", "static", 0)
    if fixed or (fast and ip):
        ifconfig = None
    else:
        ifconfig = _lease(sim, now)
        _log(sim, "dhcp", "lease", board["dhcp_ms"])
    if cache is not None:
        netcache.learned(cache, ssid, bssid, channel, ifconfig, now)
    return "fast" if fast else "scan"


def resolve(sim, host, port):
    """A DNS lookup: the `dns` file's answer for host, else the host's resolver."""
    _log(sim, "dns", "lookup", radiomodel.RTT_MS)
    for line in _text(sim + "/dns").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == host:
            return parts[1]
    import socket
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    if isinstance(addr, tuple):
        return addr[0]
    return "%d.%d.%d.%d" % tuple(addr[4:8])     # the unix port's struct sockaddr_in
