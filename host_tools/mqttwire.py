from .check.mqttwire import *  # noqa: F401,F403
