"""Kept importable for bench/ and tests/: the module is host_tools/device/provision.py."""
from .device.provision import *  # noqa: F401,F403
