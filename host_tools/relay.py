"""Kept importable for bench/ and tests/: the module is host_tools/sim/relay.py."""
from .sim.relay import *  # noqa: F401,F403
