# A self test of a provisioned board (`make smoke PORT=...` runs it over mpremote):
#   config   the bundle's config.json loads and validates
#   clock    the clock is plausible (NTP when it is not)
#   tls      Wi-Fi, TLS to the broker as configured (CA/pin/mutual), login as the device (its
#            session left as it was), one QoS 1 publish to <prefix>/reply acknowledged,
#            DISCONNECT
#   buffer   a ring buffer on the board's own filesystem: append, peek, ack, reopen
#   rtc      RTC memory round trip (its previous contents are put back)
# It prints one line per check and a summary; run() returns the number of failures.
import gc
import time

from node import board as boards
from node import clock, config


def _check(name, fn, results):
    t0 = time.ticks_ms()
    try:
        detail = fn()
        ok = True
    except Exception as e:      # every failure is reported, the other checks still run
        detail = "%s: %s" % (type(e).__name__, e)
        ok = False
    ms = time.ticks_diff(time.ticks_ms(), t0)
    print("smoke: %s %-6s %5d ms  %s" % ("PASS" if ok else "FAIL", name, ms, detail or ""))
    results.append(ok)


def _tls(board, cfg):
    # Logged in as the device itself (a broker that binds client ids to logins allows no
    # other), to its persistent session, which it leaves as it was: nothing subscribed, and a
    # command queued there is not acknowledged, so the node still gets it. The one message goes
    # where the device may write, its reply topic.
    from node.mqtt.client import MQTTClient
    from node.tls import make_context
    mq = cfg["mqtt"]
    board.wifi_up(cfg["wifi"], cfg["node"]["wifi_timeout_ms"])
    c = MQTTClient(mq["client_id"], mq["host"], mq["port"], mq["user"], mq["password"], 30,
                   ssl=make_context(cfg["tls"], board.bundle_dir()), timeout=mq["timeout"])
    c.defer_acks = True
    c.connect(clean_session=False)
    pid = c.publish(mq["topic_prefix"] + "/reply", '{"cmd": "selftest", "ok": true}', qos=1)
    c.disconnect()
    return "%s:%d mode %s, PUBACK for id %d" % (mq["host"], mq["port"], cfg["tls"]["mode"], pid)


def _buffer(board):
    import os
    from node.ringbuf import RingBuffer
    path = board.data_dir() + "/smoke-ring"
    rb = RingBuffer(path, 8192)
    first = rb.extend([b"smoke-1", b"smoke-2"])
    got = [r for _, r in rb.peek(2)]
    if got[-2:] != [b"smoke-1", b"smoke-2"]:
        raise ValueError("read back %r" % got)
    rb.ack(first)
    if len(RingBuffer(path, 8192)):
        raise ValueError("acknowledged records came back after reopening")
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)
    return "on %s" % board.data_dir()


def _rtc(board):
    before = board.rtc_load()
    pattern = bytes(range(64)) * 4
    board.rtc_save(pattern)
    back = board.rtc_load()[:len(pattern)]
    board.rtc_save(before)
    if back != pattern:
        raise ValueError("RTC memory returned different bytes")
    return "%d bytes" % len(pattern)


def run():
    board = boards.load()
    results = []
    cfg = {}

    def load():
        cfg.update(config.load(board.bundle_dir()))
        return "device %s, board %s" % (cfg["device_id"], board.NAME)

    _check("config", load, results)
    if cfg:
        _check("clock", lambda: clock.ensure(board, cfg["node"]["ntp_host"], cfg["node"]["ntp_port"]),
               results)
        _check("tls", lambda: _tls(board, cfg), results)
    _check("buffer", lambda: _buffer(board), results)
    _check("rtc", lambda: _rtc(board), results)
    gc.collect()
    failed = results.count(False)
    print("smoke: %d of %d checks passed; free heap %d bytes" % (len(results) - failed, len(results),
                                                                  gc.mem_free()))
    return failed
