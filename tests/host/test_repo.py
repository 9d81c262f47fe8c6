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
            assert module.split(".")[0] in ("pki", "broker", "device", "check", "sim", "backend",
                                            "env", "budget"), spec


def _subcommands(parser, name):
    top = next(a for a in parser._actions if a.dest == "command")
    sub = top.choices[name]
    inner = next(a for a in sub._actions if getattr(a, "choices", None) and a.dest == "what")
    return list(inner.choices.values())


def test_the_readmes_quick_start_goes_certs_broker_provision_sim_build_flash_fleet_collect():
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start: a real board", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    steps = ["host_tools certs ca", "host_tools broker config", "host_tools provision",
             "make sim", "make build", "make flash", "host_tools fleet", "host_tools collect"]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    at = [next(i for i, line in enumerate(commands) if step in line) for step in steps]
    assert at == sorted(at), list(zip(steps, at))
    # Each command it names exists.
    for name in ("certs", "broker", "provision", "sim", "fleet", "collect"):
        assert name in cli.COMMANDS
