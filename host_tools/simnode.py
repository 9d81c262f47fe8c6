"""Kept importable for bench/ and tests/: the module is host_tools/sim/simnode.py."""
from .sim.simnode import *  # noqa: F401,F403
