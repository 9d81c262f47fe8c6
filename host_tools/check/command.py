"""`check`: the body of the command."""

from pathlib import Path

from ..context import say
from ..errors import UserError
from . import steps, target


def check(ctx, args):
    with target.temp_dir() as tmp:
        if args.device:
            t = target.from_bundle(ctx.devices_dir / args.device, Path(tmp), host=args.host,
                                   port=args.port, broker_dir=ctx.bdir.root, pki=ctx.pki)
        else:
            t = target.from_settings(ctx.settings(), host=args.host, port=args.port,
                                     broker_dir=ctx.bdir.root, pki=ctx.pki)
        report = steps.run(t, timeout=args.timeout, out=say)
    if report.failures:
        first = report.failures[0]
        raise UserError(f"check failed: {first.text}: {first.fix or 'see above'}")
    say("check: all good")
    return 0
