"""Kept importable for tests/: the module is host_tools/pki/x509.py."""
from .pki.x509 import *  # noqa: F401,F403
