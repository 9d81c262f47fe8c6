# The wake's way to the broker, as short as what the last wake learned allows (node.netcache):
# Wi-Fi joined with the access point and IP configuration kept in RTC memory, the broker's
# address from RTC memory instead of a DNS lookup. Whatever fails with what was kept falls
# back in the same wake to the slow way (a DNS lookup; a scan and DHCP), and what that learns
# is kept for the next wake. The TLS certificate is checked against the broker's name as
# always: only the lookup is skipped.
#
#   route = Route(board, cache, cfg["wifi"], cfg["node"], stale)   # stale: resolve again
#   route.up()                                    # Wi-Fi (bounded by node.wifi_timeout_ms)
#   sock, addr = route.dial(host, port, timeout)  # TCP to the broker, and its address
# The route is dropped once connected: the TLS handshake that follows needs its RAM.
from micropython import const

from node import netcache
from node.mqtt import link

_RESOLVE_EVERY = const(10800)   # seconds: an address older than this is looked up again


class Route:
    def __init__(self, board, cache, wifi, opt, stale):
        self.board = board
        self.cache = cache
        self.wifi = wifi
        self.opt = opt
        self.stale = stale
        self.kept = False       # the Wi-Fi came up from what was kept, not from a scan

    def up(self, fresh=False):
        wifi = self.wifi
        if wifi is None:
            return
        board = self.board
        path = board.wifi_up(wifi, self.opt["wifi_timeout_ms"], self.cache, board.unix_time(),
                             wifi["lease_s"], fresh)
        if path != "up":
            self.kept = path == "fast"

    def dial(self, host, port, timeout):
        """The broker connected over TCP: the kept address, else a DNS lookup, else the
        Wi-Fi anew and the lookup again. Returns (the socket, the address it went to: where
        to dial again, to look at a refused handshake)."""
        board, cache = self.board, self.cache
        addr = None if self.stale else netcache.broker(cache, host, port, board.unix_time(),
                                                       _RESOLVE_EVERY)
        sock = None
        if addr:
            try:
                sock = link.open_tcp(addr, port, timeout)
            except OSError:
                pass    # the broker moved, or this network's addresses changed
        if sock is None:
            try:
                addr, sock = self._lookup(host, port, timeout)
            except OSError:
                if not (self.kept and self.wifi):
                    raise
                # What the Wi-Fi came up with may be what fails (a lease the network gave
                # away): the slow way once, then the lookup again.
                self.up(True)
                addr, sock = self._lookup(host, port, timeout)
        return sock, addr

    def _lookup(self, host, port, timeout):
        board = self.board
        addr = board.resolve(host, port)
        netcache.resolved(self.cache, host, port, addr, board.unix_time())
        return addr, link.open_tcp(addr, port, timeout)
