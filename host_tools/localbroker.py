"""Kept importable for bench/ and tests/: the module is host_tools/sim/localbroker.py."""
from .sim.localbroker import *  # noqa: F401,F403
