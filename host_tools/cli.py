"""`python -m host_tools <command>`: the command line of the host tools."""

import argparse
import sys

from .errors import UserError


def _demo(args):
    from . import demo
    return demo.run(readings=args.readings)


def build_parser():
    parser = argparse.ArgumentParser(prog="host_tools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("demo", help="the node on the unix port publishing to a local Mosquitto over TLS")
    p.add_argument("--readings", type=int, default=5, help="readings the simulated node publishes")
    p.set_defaults(func=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except UserError as exc:
        print(f"host_tools: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("host_tools: interrupted", file=sys.stderr)
        return 130
