"""Kept importable for bench/ and tests/: the module is host_tools/sim/monitor.py."""
from .sim.monitor import *  # noqa: F401,F403
