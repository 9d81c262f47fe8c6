"""`image`: MicroPython's own build with the node frozen in, as exact commands (--dry-run), the
toolchain it needs named when it is missing, and a run through a stand-in `make` (this machine
has no xtensa toolchain) that leaves the image where `flash` takes it."""

import os
import shlex
import stat
import sys
import tarfile

import pytest

from integration.host_site import Site
from host_tools.repo import FREEZE_MANIFEST
from espimages import image

FAKE_MAKE = """#!{python}
# Stands in for make: records its arguments, and for a port build leaves what MicroPython's
# build leaves, build-<BOARD>/firmware.bin.
import os, shutil, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(" ".join(args) + "\\n")
where = args[args.index("-C") + 1]
board = next((a.split("=", 1)[1] for a in args if a.startswith("BOARD=")), None)
if board:
    os.makedirs(os.path.join(where, "build-" + board), exist_ok=True)
    shutil.copyfile({image!r}, os.path.join(where, "build-" + board, "firmware.bin"))
"""


def micropython_tree(root):
    """The parts of a MicroPython source tree `image` looks at before it builds."""
    for path in ("mpy-cross/Makefile", "ports/esp8266/Makefile", "ports/esp32/Makefile",
                 "lib/axtls/ssl/tls1.c", "lib/mbedtls/library/ssl_tls.c",
                 "lib/micropython-lib/micropython/README.md"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    return root


@pytest.fixture
def site(tmp_path):
    return Site(tmp_path / "project")


def fake_tools(tmp_path, monkeypatch, compiler=True, frozen=True):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    built = image(tmp_path / "built.bin", "esp8266", frozen=frozen)
    log = tmp_path / "make.log"
    make = bin_dir / "make"
    make.write_text(FAKE_MAKE.format(python=sys.executable, log=str(log), image=str(built)))
    tools = [make]
    if compiler:
        tools.append(bin_dir / "xtensa-lx106-elf-gcc")
        tools[-1].write_text("#!/bin/sh\nexit 0\n")
    for tool in tools:
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_dry_run_prints_micropythons_own_build(site, tmp_path):
    src = micropython_tree(tmp_path / "micropython")
    out = site.ok("image", "--board", "esp8266", "--micropython-src", src, "--dry-run")
    commands = [line for line in out.splitlines() if not line.startswith("#")]
    image_out = site.root / "build" / "image" / "esp8266" / "firmware.bin"
    assert commands == [
        f"make -C {src}/mpy-cross",
        f"make -C {src}/ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST={FREEZE_MANIFEST}",
        f"cp {src}/ports/esp8266/build-ESP8266_GENERIC/firmware.bin {image_out}"]
    out = site.ok("image", "--board", "esp32", "--chip", "esp32s3", "--micropython-src", src, "--dry-run")
    assert (f"make -C {src}/ports/esp32 BOARD=ESP32_GENERIC_S3 FROZEN_MANIFEST={FREEZE_MANIFEST}"
            in out.splitlines())
    assert not (site.root / "build" / "image").exists()


def test_a_tarball_of_the_source_is_unpacked_first(site, tmp_path):
    src = micropython_tree(tmp_path / "micropython-1c3c2011")
    tarball = tmp_path / "micropython-1c3c2011-src.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src, arcname="micropython")
    out = site.ok("image", "--board", "esp8266", "--micropython-src", tarball, "--dry-run")
    tree = site.root / "build" / "micropython-src" / "micropython-1c3c2011-src"
    commands = [shlex.split(line) for line in out.splitlines() if not line.startswith("#")]
    assert commands[:3] == [["rm", "-rf", str(tree)], ["mkdir", "-p", str(tree)],
                            ["tar", "-xf", str(tarball), "-C", str(tree), "--strip-components=1"]]
    assert commands[3] == ["make", "-C", f"{tree}/mpy-cross"]


def test_the_source_must_be_micropython_with_its_submodules(site, tmp_path):
    rc, _, err = site.cli("image", "--board", "esp8266", "--micropython-src", tmp_path / "nope", "--dry-run")
    assert rc == 2 and "does not exist" in err and "git clone https://github.com/micropython/micropython" in err
    src = micropython_tree(tmp_path / "mp")
    for name in (src / "lib" / "axtls").iterdir():
        name.rename(tmp_path / "moved")
    rc, _, err = site.cli("image", "--board", "esp8266", "--micropython-src", src, "--dry-run")
    assert rc == 2 and "lacks the submodule(s) axtls" in err and "submodule update --init" in err
    rc, _, err = site.cli("image", "--board", "esp8266", "--dry-run")
    assert rc == 2 and "--micropython-src" in err


def test_without_the_xtensa_toolchain_it_says_the_two_ways(site, tmp_path, monkeypatch):
    src = micropython_tree(tmp_path / "micropython")
    log = fake_tools(tmp_path, monkeypatch, compiler=False)
    rc, out, err = site.cli("image", "--board", "esp8266", "--micropython-src", src)
    assert rc == 2 and err.count("\n") == 1
    assert "xtensa-lx106-elf-gcc is not on PATH" in err
    assert "esp-open-sdk toolchain" in err                                  # one way
    assert "larsks/esp-open-sdk" in err and "mpbuild build ESP8266_GENERIC" in err   # the other
    assert f"FROZEN_MANIFEST={FREEZE_MANIFEST}" in err
    assert not log.exists()                                                 # nothing was run
    rc, _, err = site.cli("image", "--board", "esp32", "--micropython-src", src)
    assert rc == 2 and "ESP-IDF is not set up" in err and "export.sh" in err


def test_the_build_runs_and_leaves_the_image_for_flash(site, tmp_path, monkeypatch):
    src = micropython_tree(tmp_path / "micropython")
    log = fake_tools(tmp_path, monkeypatch)
    out = site.ok("image", "--board", "esp8266", "--micropython-src", src)
    assert log.read_text().splitlines() == [
        f"-C {src}/mpy-cross",
        f"-C {src}/ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST={FREEZE_MANIFEST}"]
    built = site.root / "build" / "image" / "esp8266" / "firmware.bin"
    assert built.read_bytes() == (src / "ports/esp8266/build-ESP8266_GENERIC/firmware.bin").read_bytes()
    assert "has the node frozen in" in out
    # `flash` takes it from there.
    site.ok("certs", "ca")
    site.ok("certs", "broker", "--dns", "broker.lan", "--ip", "192.168.1.10")
    site.ok("provision", "esp-8", "--board", "esp8266", "--host", "broker.lan", "--wifi-ssid", "lab",
            env={"WIFI_PASSWORD": "correct horse"})
    out = site.ok("flash", "--port", "/dev/ttyUSB0", "--device", "esp-8", "--dry-run")
    assert f"write-flash --flash-size detect 0x0 {built}" in out


def test_an_image_that_came_out_without_the_node_is_refused(site, tmp_path, monkeypatch):
    src = micropython_tree(tmp_path / "micropython")
    fake_tools(tmp_path, monkeypatch, frozen=False)
    rc, _, err = site.cli("image", "--board", "esp8266", "--micropython-src", src)
    assert rc == 2 and "came out without the node frozen in" in err and "FROZEN_MANIFEST" in err
