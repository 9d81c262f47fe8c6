"""Kept importable for bench/ and tests/: the module is host_tools/device/build.py."""
from .device.build import *  # noqa: F401,F403
