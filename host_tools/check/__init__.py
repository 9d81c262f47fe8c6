"""The check wing: connect as a device would, and say what is wrong and what to do."""
from .steps import Target, from_bundle, from_settings, run, temp_dir  # noqa: F401
