"""What the repository keeps out of git, and the host tools' command table."""

import importlib
import subprocess

import pytest

from host_tools import cli
from host_tools.repo import REPO


@pytest.mark.parametrize("path", [
    "ESP8266_GENERIC-v1.24.1.bin", "firmware.bin", "build/image/esp8266/firmware.bin",
    "certs/ca.key", "certs/crl.pem", "build/broker/mqtt-node/server.key", "mqtt-node-broker.tar.gz",
    "build/devices/node-1/config.json", "build/revoked/node-1-20260101T000000Z/config.json", ".env"])
def test_secrets_and_images_are_ignored(path):
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, timeout=30)
    assert proc.returncode == 0, f"{path} is not ignored by .gitignore"


def test_every_command_has_its_body_in_a_wing():
    parser = cli.build_parser()
    for name, (body, add_args, text) in cli.COMMANDS.items():
        specs = [body] if body else [action.get_default("body") for action in
                                     _subcommands(parser, name)]
        for spec in specs:
            module, _, function = spec.partition(":")
            assert callable(getattr(importlib.import_module(f"host_tools.{module}"), function)), spec
            assert module.split(".")[0] in ("pki", "broker", "device", "check", "sim", "env", "budget"), spec


def _subcommands(parser, name):
    top = next(a for a in parser._actions if a.dest == "command")
    sub = top.choices[name]
    inner = next(a for a in sub._actions if getattr(a, "choices", None) and a.dest == "what")
    return list(inner.choices.values())
