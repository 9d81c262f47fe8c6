"""`host_tools budget` and the wake model behind it (host_tools/budget, firmware/sim/radiomodel.py)."""

import re

from host_tools.budget.wakes import average_ma, battery_days, model, wakes
from host_tools.cli import main


def test_budget_prints_each_wake_by_phase_and_the_battery_life(capsys):
    assert main(["budget", "--board", "esp8266", "--interval", "300", "--battery-mah", "2500"]) == 0
    out = capsys.readouterr().out
    for name in ("usual", "first", "after an outage", "umqtt.robust"):
        assert re.search(rf"^{re.escape(name)}\s+113\s", out, re.M), out
    for phase in model.PHASES:
        assert phase in out
    days = [int(d.replace(",", "")) for d in re.findall(r"([\d,]+) days on 2500 mAh", out)]
    assert len(days) == 2 and days[0] > 4 * days[1], out       # this node, then umqtt.robust


def test_budget_refuses_what_is_not_a_number(capsys):
    for bad in (["--interval", "0"], ["--battery-mah", "-5"]):
        args = ["budget", "--board", "esp32", "--interval", "60", "--battery-mah", "3200"]
        i = args.index(bad[0])
        args[i + 1] = bad[1]
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"accepted {bad}")


def test_the_usual_wake_skips_scan_dhcp_dns_and_flash():
    for board in model.BOARDS:
        w = wakes(board)
        usual, ref = w["usual"], w["umqtt.robust"]
        assert usual.ms["DHCP"] == usual.ms["DNS"] == usual.ms["flash writes"] == 0
        assert usual.ms["association"] == model.BOARDS[board]["fast_ms"]
        assert ref.ms["association"] == model.BOARDS[board]["scan_ms"] and ref.ms["DHCP"] > 0
        assert w["first"].total_ms() > w["after an outage"].total_ms() > usual.total_ms()


def test_battery_life_grows_with_the_interval_and_a_bigger_battery():
    for board in model.BOARDS:
        days = [battery_days(2500, average_ma(board, s)) for s in model.INTERVALS_S]
        assert days == sorted(days)
        assert battery_days(3200, average_ma(board, 300)) > battery_days(2500, average_ma(board, 300))


def test_every_figure_of_the_model_names_a_source_with_an_address():
    for key, text, url in model.SOURCES:
        assert key and text and url.startswith("https://")
    cited = {key for key, _, _ in model.SOURCES}
    source = open(model.__file__, encoding="utf-8").read()
    figures = re.findall(r'^\s+"\w+_(?:ms|ma|ua)": [\d.]+,\s*#(.*)$', source, re.M)
    assert len(figures) == 2 * 6, figures
    for comment in figures:
        assert cited & set(re.findall(r"[a-z0-9]+", comment)), comment
