"""`python -m host_tools sim DEVICE`: a provisioned bundle run on the unix board against the
broker `broker config` wrote, with the device's own login, wake after wake; one line per wake
and the demo's summary, counted by a back end's login that watches the readings arrive."""

import hashlib
import re

import pytest


pytestmark = pytest.mark.broker

SUMMARY = re.compile(r"readings taken (\d+), delivered (\d+), duplicates (\d+), lost (\d+)")


@pytest.fixture
def site(site_factory):
    return site_factory(devices=("node-a",), monitors=("watcher",))


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def wake_lines(out):
    return re.findall(r"^  node    wake +(\d+): (.*)$", out, re.M)


def test_a_run_prints_each_wake_and_the_summary_and_leaves_the_bundle_as_it_was(site):
    before = digest(site.bundle("node-a"))
    out = site.ok("sim", "node-a", "--wakes", "4", "--login", "watcher")
    lines = wake_lines(out)
    assert [n for n, _ in lines] == ["1", "2", "3", "4"], out
    assert "reading #1" in lines[0][1] and "Home Assistant discovery announced" in lines[0][1]
    assert all("kept 0 in flash + 0 in RTC" in text for _, text in lines), out
    assert SUMMARY.search(out).groups() == ("4", "4", "0", "0"), out
    assert "against localhost:%d" % site.tls_port in out and "watching nodes/node-a/readings as watcher" in out
    assert digest(site.bundle("node-a")) == before
    assert (site.root / "build" / "sim" / "node-a" / "flash.img").exists()
    # The next run is the same board: its numbers go on; --fresh is a new board.
    out = site.ok("sim", "node-a", "--wakes", "1", "--login", "watcher")
    assert "reading #5" in wake_lines(out)[0][1], out
    out = site.ok("sim", "node-a", "--wakes", "1", "--fresh", "--login", "watcher")
    assert "reading #1" in wake_lines(out)[0][1], out


def test_wifi_loss_and_power_loss_are_played(site):
    out = site.ok("sim", "node-a", "--wakes", "4", "--wifi-off", "1-2", "--login", "watcher")
    lines = dict(wake_lines(out))
    assert lines["1"].startswith("Wi-Fi down; reading #1") and "kept 0 in flash + 1 in RTC" in lines["1"]
    # Wake 2 is the backoff's retry, still without Wi-Fi; wake 3 delivers what was kept.
    assert "broker unreachable" in lines["2"] and "kept 0 in flash + 1 in RTC" in lines["2"]
    assert "kept 0 in flash + 0 in RTC" in lines["3"] and "Wi-Fi" not in lines["3"]
    taken, delivered, dups, lost = map(int, SUMMARY.search(out).groups())
    assert taken >= 2 and delivered == taken and lost == 0, out
    # The power goes in wake 2 (or, when the wake was quicker, while it sleeps): RTC memory is
    # lost, so at most that wake's reading (none when it went before the reading was taken);
    # the board starts cold after it and numbers on from the next reserved block.
    rc, out, err = site.cli("sim", "node-a", "--wakes", "3", "--power-loss", "2", "--login", "watcher")
    lines = dict(wake_lines(out))
    assert "POWER LOST" in lines["2"] and "POWER LOST" not in lines["3"], out
    assert "reading #1025" in lines["3"], out
    taken, delivered, dups, lost = map(int, SUMMARY.search(out).groups())
    assert taken in (2, 3) and lost <= 1 and delivered + lost == taken, out
    assert rc == (1 if lost else 0), out


def test_real_time_waits_out_each_sleep_and_keeps_the_boards_clock(site):
    import time
    clock = site.root / "build" / "sim" / "node-a" / "clock"
    t0 = time.monotonic()
    out = site.ok("sim", "node-a", "--wakes", "2", "--speed", "10", "--fresh")
    took = time.monotonic() - t0
    assert "10 x real time" in out and "the node's count" in out, out
    # Each wake sleeps about 60 s (less the wake's own time, which a loaded machine makes a
    # second or more): a tenth of the first is waited out in real time, and the board's clock
    # counts each sleep once: the sleeps, less what went by in real time.
    first, second = (int(s) for s in re.findall(r"sleeps (\d+) s", out))
    assert took >= first / 10, took
    assert abs(float(clock.read_text()) - (first + second - first / 10)) < 2.2, \
        (clock.read_text(), first, second)


def test_what_it_refuses(site):
    rc, out, err = site.cli("sim", "node-z")
    assert rc == 2 and "no bundle for node-z" in err and "provision it first" in err
    rc, out, err = site.cli("sim", "node-a", "--wakes", "3", "--wifi-off", "2-5")
    assert rc == 2 and "--wifi-off 2-5" in err and "1-3" in err
    rc, out, err = site.cli("sim", "node-a", "--login", "nobody")
    assert rc == 2 and "broker user nobody" in err
