"""The check wing: connect as a device would, and say what is wrong and what to do.

    target.py     what is checked, from a device's bundle or the MQTT_* settings
    connect.py    TCP and the TLS handshakes, watched as they pass (tlswire.py)
    login.py      the MQTT login through paho-mqtt, leaving the device's session as it was
    steps.py      the order of the steps
    diagnosis.py  every verdict and what to do about it, in one place
"""
from .report import Report  # noqa: F401
from .steps import run  # noqa: F401
from .target import Target, from_bundle, from_settings, temp_dir  # noqa: F401
