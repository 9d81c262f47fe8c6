"""`budget`: the body of the command."""

from ..context import say
from ..errors import UserError
from .wakes import average_ma, battery_days, model, wakes


def budget(ctx, args):
    if args.interval <= 0 or args.battery_mah <= 0:
        raise UserError("budget: --interval and --battery-mah must be positive: give seconds "
                        "and milliampere-hours")
    params = {k: v for k, v in (("awake_ma", args.awake_ma), ("sleep_ua", args.sleep_ua))
              if v is not None}
    b = dict(model.BOARDS[args.board], **params)
    say(f"{args.board}: awake {b['awake_ma']:g} mA, deep sleep {b['sleep_ua']:g} uA, "
        f"{model.VOLTS:g} V, a LAN round trip {args.rtt_ms:g} ms")
    all_wakes = wakes(args.board, args.rtt_ms, params)
    phases = model.PHASES
    say(f"{'wake':<16}" + "".join(f"{p:>13}" for p in phases) + f"{'awake ms':>10}{'mJ/reading':>12}")
    for w in all_wakes.values():
        say(f"{w.name:<16}" + "".join(f"{w.ms[p]:>13,.0f}" for p in phases)
            + f"{w.total_ms():>10,.0f}{w.mj_per_reading(b['awake_ma']):>12.1f}")
    for kind, label in (("usual", "this node"), ("umqtt.robust", "umqtt.robust")):
        ma = average_ma(args.board, args.interval, kind, args.rtt_ms, params, args.lease_s)
        say(f"{label}: a reading every {args.interval} s averages {ma * 1000:,.1f} uA: "
            f"{battery_days(args.battery_mah, ma):,.0f} days on {args.battery_mah} mAh")
    say("the figures and their sources: README, \"Battery life\"; firmware/sim/radiomodel.py")
    return 0
