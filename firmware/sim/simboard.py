# The simulator board: the node on the unix port of MicroPython (never part of a board's
# firmware: it stands in for machine, network and the flash chip), with the board's parts
# kept as files in the simulation folder ($NODE_SIM, default <bundle>/sim), so that a runner
# (host_tools.simnode) can play deep sleep, resets and power loss by restarting the process:
#   rtc.bin     RTC user memory: kept across deep sleep and reset; the runner deletes it to
#               play a power loss
#   flash.img   the flash chip (simchip), littlefs v2 mounted at /flash
#   clock       offset of the board's clock from the host's, in seconds (decimal text): deep sleep and idle
#               advance it, so many wake cycles run in compressed time
#   wifi-off    while this file exists, Wi-Fi cannot connect
#   ap, dns, lease, radio.log   the simulated network and the steps each wake took (simradio)
#   wifi-crash  while this file exists, bringing Wi-Fi up raises an unexpected error (a bug)
#   flash-full  while this file exists, every write to the flash chip fails
#   cause       why the board started ("deepsleep", "power", ...), written by the runner
#   sleep       written at deep sleep: the milliseconds asked for
#   points      written at deep sleep while a power cut is armed (NODE_SIM_CUT, sim/powercut.py):
#               the wake's write points, "f" (flash) or "n" (network) each
# The device bundle (config.json, CA, keys) lives in $NODE_DIR, or the current directory.
# $NODE_SIM_FIELDS names the simulated sensor's two values (default: "temp_c rh").
import gc
import os
import sys
import time

NAME = "unix"
RTC_BYTES = 492         # as small as the ESP8266's, so the state is tested at the tighter limit
FLASH_BLOCKS = 128      # 512 KB of simulated flash
MOUNT = "/flash"

_mounted = None
_offset = None          # the clock's offset in ms, once read (_offset_ms)


def bundle_dir():
    return os.getenv("NODE_DIR") or "."


def sim_dir():
    d = os.getenv("NODE_SIM") or bundle_dir() + "/sim"
    try:
        os.mkdir(d)
    except OSError:
        pass
    return d


def _path(name):
    return sim_dir() + "/" + name


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _read(name, default=None):
    try:
        with open(_path(name), "rb") as f:
            return f.read()
    except OSError:
        return default


def _write(name, data):
    # Host files: write then rename, so a killed process leaves the old or the new content.
    tmp = _path(name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, _path(name))


def flash():
    """The simulated chip, mounted at /flash (formatted on first use)."""
    global _mounted
    if _mounted is None:
        import vfs
        if os.getenv("NODE_SIM_CUT"):
            from powercut import Chip   # each program and erase a write point (a runner's cut)
        else:
            from simchip import Chip
        chip = Chip(FLASH_BLOCKS, path=_path("flash.img"))
        chip.full = _exists(_path("flash-full"))
        try:
            vfs.mount(vfs.VfsLfs2(chip), MOUNT)
        except OSError:
            vfs.VfsLfs2.mkfs(chip)
            vfs.mount(vfs.VfsLfs2(chip), MOUNT)
        _mounted = chip
    return _mounted


def data_dir():
    flash()
    return MOUNT


def rtc_load():
    return _read("rtc.bin", b"")


def rtc_save(data):
    if len(data) > RTC_BYTES:
        raise ValueError("buffer too long")
    _write("rtc.bin", data)


_station = None     # the path the Wi-Fi came up by in this wake (None: it is down)


def wifi_up(wifi_cfg, timeout_ms, cache=None, now=0, lease_s=0, fresh=False):
    """Association, DHCP as the ESP adapters take them, priced and logged by simradio;
    returns the path ("up", "fast", "scan")."""
    global _station
    if _exists(_path("wifi-crash")):
        raise RuntimeError("simulated bug in the Wi-Fi driver")
    if _exists(_path("wifi-off")):
        raise OSError("Wi-Fi: no access point in range (simulated outage)")
    if _station and not fresh:
        return "up"
    import simradio
    from node import netcache
    try:
        _station = simradio.join(sim_dir(), netcache, wifi_cfg, cache, now, lease_s, fresh)
    finally:
        _unload_radio()
    return _station


def resolve(host, port):
    """The broker's address from a (simulated) DNS lookup, as text."""
    import simradio
    try:
        return simradio.resolve(sim_dir(), host, port)
    finally:
        _unload_radio()


def _unload_radio():
    # Like a board's driver code, the simulator's takes no heap between its uses.
    for name in ("simradio", "radiomodel"):
        sys.modules.pop(name, None)


def wifi_down():
    pass


# The clock in whole milliseconds, never in float: on a 32-bit port (the board emulators) a
# float has 24 bits, too few for a Unix time.
def _now_ms():
    return time.time_ns() // 1000000


def _offset_ms():
    # The file holds seconds as decimal text ("-12.5"), written by this module or, between
    # wakes, by a runner. Read once per process: a board reads its clock without allocating,
    # and so does this one after the first time.
    global _offset
    if _offset is None:
        text = (_read("clock", b"0").decode().strip() or "0")
        neg = text.startswith("-")
        parts = text.lstrip("-").split(".")
        try:
            ms = int(parts[0] or "0") * 1000 + (int((parts[1] + "000")[:3]) if len(parts) > 1 else 0)
        except ValueError:
            ms = 0
        _offset = -ms if neg else ms
    return _offset


def _set_offset_ms(ms):
    global _offset
    _offset = ms
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    _write("clock", ("%s%d.%03d" % (sign, ms // 1000, ms % 1000)).encode())


def _advance(ms):
    _set_offset_ms(_offset_ms() + int(ms))


def unix_time():
    return (_now_ms() + _offset_ms()) // 1000


def set_time(unix_t):
    _set_offset_ms(int(unix_t) * 1000 - _now_ms())


def deepsleep(ms):
    global _mounted
    _advance(ms)
    cut = sys.modules.get("powercut")
    if cut:
        _write("points", "".join(cut.kinds).encode())
    _write("sleep", str(ms).encode())
    if _mounted is not None:
        import vfs
        vfs.umount(MOUNT)
        _mounted = None
    sys.exit(0)


def idle(ms):
    # NODE_SIM_SPEED > 1 compresses idle time: the clock advances by ms, the host sleeps less.
    speed = float(os.getenv("NODE_SIM_SPEED") or 1)
    real = int(ms / speed)
    time.sleep_ms(real)
    if ms > real:
        _advance(ms - real)


def watchdog(timeout_ms):
    # No watchdog here: a hung wake is stopped by the runner's timeout. The node feeds none.
    return None


def reset_cause():
    cause = _read("cause", b"power").decode()
    return cause


def free_heap():
    gc.collect()
    return gc.mem_free()


class SimulatedSensor:
    """A deterministic stand-in for a temperature/humidity sensor."""

    FIELDS = ("temp_c", "rh")

    def __init__(self, seed=0):
        self._n = seed

    def read(self):
        self._n += 1
        n = self._n
        return (20 + (n * 7 % 50) / 10, 40 + (n * 13 % 200) / 10)


def default_sensor():
    sensor = SimulatedSensor(seed=unix_time() // 60)
    fields = os.getenv("NODE_SIM_FIELDS")
    if fields:
        sensor.FIELDS = tuple(fields.split())
    return sensor
