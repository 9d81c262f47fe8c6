"""`check`: the body of the command."""

from pathlib import Path

from ..context import say
from ..errors import UserError
from . import steps, target


def check(ctx, args):
    with target.temp_dir() as tmp:
        if args.device:
            targets = target.each_broker(ctx.devices_dir / args.device, Path(tmp), host=args.host,
                                         port=args.port, broker_dir=ctx.bdir.root, pki=ctx.pki)
        else:
            targets = [target.from_settings(ctx.settings(), host=args.host, port=args.port,
                                            broker_dir=ctx.bdir.root, pki=ctx.pki)]
        failed = []
        for i, t in enumerate(targets, 1):
            if len(targets) > 1:
                say(f"check: broker {i} of {len(targets)}, {t.host}:{t.port}")
            report = steps.run(t, timeout=args.timeout, out=say)
            if report.failures:
                failed.append((t, report.failures[0]))
    if len(failed) == 1 and len(targets) == 1:
        first = failed[0][1]
        raise UserError(f"check failed: {first.text}: {first.fix or 'see above'}")
    if failed:
        raise UserError(f"check failed for {len(failed)} of {len(targets)} brokers: "
                        + "; ".join(f"{t.host}:{t.port}: {f.text}" for t, f in failed)
                        + ": see above for what to do about each")
    say("check: all good" + (f" ({len(targets)} brokers)" if len(targets) > 1 else ""))
    return 0
