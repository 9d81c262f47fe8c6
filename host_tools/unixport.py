"""Kept importable for bench/ and tests/: the module is host_tools/sim/unixport.py."""
from .sim.unixport import *  # noqa: F401,F403
