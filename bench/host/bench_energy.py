"""Time awake, energy per reading and battery life, by the cost model of firmware/sim/
radiomodel.py (host_tools.budget prices the wakes): each wake of this node by phase next to
umqtt.robust's wake under the same model, and battery life in days for reading intervals from
1 minute to 1 hour on 2xAA and one 18650, next to umqtt.robust's. Writes the plot of the
battery life to bench/battery-life.svg (the README shows it)."""

from pathlib import Path

from host_tools.budget.wakes import average_ma, battery_days, model, wakes

from .figures import Figure

PLOT = Path(__file__).resolve().parents[1] / "battery-life.svg"
NOTE = ("cost model of firmware/sim/radiomodel.py (published measurements, README \"Battery "
        "life\"), LAN round trip %d ms" % model.RTT_MS)


def run(ctx):
    figures = []
    for board, b in model.BOARDS.items():
        ws = wakes(board)
        ref = ws["umqtt.robust"]
        for kind, label in (("usual", "usual wake"), ("first", "first wake"),
                            ("after an outage", "wake after an outage")):
            w = ws[kind]
            figures.append(Figure(f"time awake, {board}, {label}", w.total_ms(), "ms",
                                  "umqtt.robust's wake", ref.total_ms(),
                                  NOTE + "; by phase: " + ", ".join(
                                      f"{p} {w.ms[p]:,.0f}" for p in model.PHASES)))
            figures.append(Figure(f"energy per reading, {board}, {label}",
                                  round(w.mj_per_reading(b["awake_ma"]), 1), "mJ",
                                  "umqtt.robust's wake", round(ref.mj_per_reading(b["awake_ma"]), 1),
                                  NOTE))
        for phase in model.PHASES:
            figures.append(Figure(f"time awake, {board}, usual wake, {phase}",
                                  ws["usual"].ms[phase], "ms", "umqtt.robust's wake, same phase",
                                  ref.ms[phase], NOTE))
        for battery, mah in model.BATTERIES:
            for interval in model.INTERVALS_S:
                figures.append(Figure(
                    f"battery life, {board}, {battery}, a reading every {_every(interval)}",
                    round(battery_days(mah, average_ma(board, interval)), 1), "days",
                    "umqtt.robust", round(battery_days(mah, average_ma(board, interval,
                                                                      "umqtt.robust")), 1),
                    NOTE + f"; {mah} mAh, deep sleep {b['sleep_ua']:g} uA"))
    PLOT.write_text(svg_plot())
    return figures


def _every(seconds):
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min"


def svg_plot(width=720, height=420):
    """Battery life against the reading interval, log-log, as an SVG document."""
    import math
    left, right, top, bottom = 70, 200, 30, 50
    xs = model.INTERVALS_S
    series = []
    colours = {"esp8266": "#c0392b", "esp32": "#2471a3"}
    for board in model.BOARDS:
        for battery, mah in model.BATTERIES:
            for kind, dash in (("usual", ""), ("umqtt.robust", "6,4")):
                days = [battery_days(mah, average_ma(board, s, kind)) for s in xs]
                label = f"{board} {battery}" + (" umqtt.robust" if dash else "")
                series.append((label, colours[board], dash, 1.0 if battery == "18650" else 2.2,
                               days))
    lo = 10 ** math.floor(math.log10(min(min(s[4]) for s in series)))
    hi = 10 ** math.ceil(math.log10(max(max(s[4]) for s in series)))

    def px(s):
        f = math.log(s / xs[0]) / math.log(xs[-1] / xs[0])
        return left + f * (width - left - right)

    def py(d):
        f = math.log(d / lo) / math.log(hi / lo)
        return height - bottom - f * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">Battery life (days) by reading interval, '
           f'cost model of firmware/sim/radiomodel.py</text>']
    d = lo
    while d <= hi:
        y = py(d)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                   f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{d:g}</text>')
        d *= 10
    for s in xs:
        x = px(s)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" '
                   f'stroke="#eee"/><text x="{x:.1f}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{_every(s)}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" '
               f'text-anchor="middle">a reading every</text>')
    for i, (label, colour, dash, w, days) in enumerate(series):
        points = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(xs, days))
        style = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                   f'stroke-width="{w}"{style}/>')
        y = top + 14 + 18 * i
        out.append(f'<line x1="{width - right + 10}" y1="{y - 4}" x2="{width - right + 34}" '
                   f'y2="{y - 4}" stroke="{colour}" stroke-width="{w}"{style}/>'
                   f'<text x="{width - right + 40}" y="{y}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
