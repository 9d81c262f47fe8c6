"""`flash`: the esptool and mpremote commands for each chip, images checked before writing (the
test images are made by esptool's own image classes), an ESP8266 with the node frozen in and
nothing but main.py and its bundle copied, and serial ports that are missing, not ours or busy."""

import os
import shlex
import subprocess
import sys

import pytest

from esptool.targets import CHIP_DEFS

from integration.host_site import Site
from host_tools import unixport
from host_tools.device import chips, serialport
from host_tools.errors import UserError
from espimages import image

PORT = "/dev/ttyUSB7"
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    # Read-only for the tests below: made once.
    s = Site(tmp_path_factory.mktemp("flash-site"))
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "broker.lan", "--ip", "192.168.1.10")
    env = {"WIFI_PASSWORD": "correct horse"}
    s.ok("broker", "config", "--bind", "192.168.1.10")
    s.ok("provision", "esp-8", "--board", "esp8266", "--host", "192.168.1.10", "--wifi-ssid", "lab", env=env)
    s.ok("provision", "esp-32", "--board", "esp32", "--host", "broker.lan", "--wifi-ssid", "lab", env=env)
    s.ok("build")
    return s


def dry_run(site, *args):
    out = site.ok("flash", "--port", PORT, "--dry-run", *args)
    return [shlex.split(line) for line in out.splitlines() if not line.startswith("#")]


def tail_after(argv, program):
    """The arguments after the program (however it was found: venv script or python -m)."""
    for i, a in enumerate(argv):
        if os.path.basename(a) == program or a == program.replace("-", "_"):
            return argv[i + 1:]
    raise AssertionError(f"{program} not in {argv}")


def test_dry_run_esp8266_writes_the_frozen_image_and_copies_only_main_and_the_bundle(site, tmp_path):
    fw = image(tmp_path / "ESP8266_GENERIC.bin", "esp8266", frozen=True)
    erase, write, copy = dry_run(site, "--device", "esp-8", "--firmware", fw)
    assert tail_after(erase, "esptool") == ["--chip", "esp8266", "--port", PORT, "--baud", "460800",
                                           "erase-flash"]
    # The offset is esptool's (the ESP8266 ROM boots from 0x0).
    assert CHIP_DEFS["esp8266"].BOOTLOADER_FLASH_OFFSET == 0
    assert tail_after(write, "esptool") == ["--chip", "esp8266", "--port", PORT, "--baud", "460800",
                                           "write-flash", "--flash-size", "detect", "0x0", str(fw)]
    bundle = site.bundle("esp-8")
    assert tail_after(copy, "mpremote") == [
        "connect", PORT, "sleep", "4", "+",
        "fs", "cp", str(unixport.FIRMWARE / "main.py"), ":",
        "+", "fs", "cp", str(bundle / "ca.der"), str(bundle / "config.json"), ":",
        "+", "reset"]


def test_esp8266_takes_the_image_built_by_image(site):
    built = site.root / "build" / "image" / "esp8266" / "firmware.bin"
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-8")
    assert rc == 2 and f"no image in {built}" in err and "image --board esp8266" in err
    built.parent.mkdir(parents=True)
    image(built, "esp8266", frozen=True)
    _, write, _ = dry_run(site, "--device", "esp-8")
    assert tail_after(write, "esptool")[-2:] == ["0x0", str(built)]
    # Keeping the board's image: main.py and the bundle, and any old node/ off its filesystem.
    (copy,) = dry_run(site, "--device", "esp-8", "--no-image")
    args = tail_after(copy, "mpremote")
    assert args[2] == "exec" and "rm('node')" in args[3]
    assert args[4:8] == ["+", "fs", "cp", str(unixport.FIRMWARE / "main.py")]


def test_esp8266_gets_no_mpy_modules(site, tmp_path):
    fw = image(tmp_path / "fw.bin", "esp8266", frozen=True)
    rc, out, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-8", "--firmware", fw,
                            "--build-dir", site.root / "build" / "firmware")
    assert rc == 2 and err.count("\n") == 1 and out == ""
    assert "an ESP8266 runs the node frozen into its MicroPython image" in err
    assert "would not fit its heap" in err and "hide the frozen ones" in err
    rc, _, err = site.cli("build", "--board", "esp8266")
    assert rc == 2 and "frozen into its MicroPython image" in err and "image --board esp8266" in err


def test_esp8266_image_without_the_node_frozen_in_is_refused(site, tmp_path):
    fw = image(tmp_path / "stock-ESP8266_GENERIC.bin", "esp8266")
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-8", "--firmware", fw)
    assert rc == 2 and "has no node frozen in" in err and "image --board esp8266" in err


def test_images_for_the_other_family_are_refused(site, tmp_path):
    esp32 = image(tmp_path / "ESP32_GENERIC.bin", "esp32", frozen=True)
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-8", "--firmware", esp32)
    assert rc == 2 and "is an image for esp32" in err and "ESP8266 image" in err
    s3 = image(tmp_path / "s3.bin", "esp32s3", frozen=True)
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-8", "--firmware", s3)
    assert rc == 2 and "is an image for esp32s3" in err
    esp8266 = image(tmp_path / "ESP8266_GENERIC.bin", "esp8266", frozen=True)
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-32", "--firmware", esp8266)
    assert rc == 2 and "not esp32" in err


def test_dry_run_esp32_and_its_variants(site, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC.bin", "esp32")
    erase, write, copy = dry_run(site, "--device", "esp-32", "--firmware", fw)
    assert tail_after(erase, "esptool")[:2] == ["--chip", "esp32"]
    assert tail_after(write, "esptool")[-3:] == ["write-flash", "0x1000", str(fw)]
    assert str(site.bundle("esp-32") / "config.json") in copy
    assert str(site.root / "build" / "firmware" / "node") in copy          # the .mpy build
    for chip, offset in (("esp32s2", "0x1000"), ("esp32s3", "0x0"), ("esp32c3", "0x0"),
                         ("esp32c6", "0x0"), ("esp32c5", "0x2000"), ("esp32p4", "0x2000")):
        assert int(offset, 16) == CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
        fw = image(tmp_path / f"{chip}.bin", chip)
        _, write, _ = dry_run(site, "--board", "esp32", "--chip", chip, "--firmware", fw)
        assert tail_after(write, "esptool")[:2] == ["--chip", chip]
        assert tail_after(write, "esptool")[-2:] == [offset, str(fw)], chip


def test_esp32_with_the_node_frozen_in_takes_main_and_the_bundle_only(site, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC-frozen.bin", "esp32", frozen=True)
    _, _, copy = dry_run(site, "--device", "esp-32", "--firmware", fw)
    assert str(unixport.FIRMWARE / "main.py") in copy and str(site.root / "build" / "firmware" / "node") not in copy
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-32", "--firmware", fw,
                          "--build-dir", site.root / "build" / "firmware")
    assert rc == 2 and "frozen in" in err and "drop --build-dir" in err


def test_without_firmware_only_files_are_copied(site):
    (copy,) = dry_run(site, "--device", "esp-32")
    args = tail_after(copy, "mpremote")
    # The board keeps its MicroPython and files; the old node/ goes so no stale .py shadows a .mpy.
    assert args[2] == "exec" and "rm('node')" in args[3] and "\n" not in args[3]
    assert args[4:8] == ["+", "fs", "cp", "-r"] and args[-2:] == ["+", "reset"]


def test_images_are_checked(site, tmp_path):
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-32",
                          "--firmware", image(tmp_path / "s3.bin", "esp32s3"))
    assert rc == 2 and "an image for esp32s3, not esp32" in err and "--chip esp32s3" in err
    (tmp_path / "fw.uf2").write_bytes(b"UF2\n" + bytes(60))
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--board", "esp32",
                          "--firmware", tmp_path / "fw.uf2")
    assert rc == 2 and "not an ESP firmware image" in err
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--board", "esp32",
                          "--firmware", tmp_path / "missing.bin")
    assert rc == 2 and "does not exist" in err


def test_board_and_bundle_must_agree(site):
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--board", "esp32", "--device", "esp-8")
    assert rc == 2 and "provisioned for an esp8266 board, not esp32" in err
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--board", "esp8266", "--chip", "esp32s3")
    assert rc == 2 and "--board esp32" in err
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run")
    assert rc == 2 and "--board esp32|esp8266" in err


def test_flash_needs_a_build(tmp_path):
    site = Site(tmp_path)
    rc, _, err = site.cli("flash", "--port", PORT, "--board", "esp32", "--dry-run")
    assert rc == 2 and "make build" in err


def test_chip_facts_come_from_esptool():
    """Offsets and image chip ids are esptool's; an image names the chip esptool made it for."""
    for name, chip in chips.CHIPS.items():
        assert chip.rom is CHIP_DEFS[name]
        assert chip.offset == CHIP_DEFS[name].BOOTLOADER_FLASH_OFFSET, name
    assert chips.CHIPS["esp8266"].image_chip_id is None


def test_each_image_is_known_for_its_chip(tmp_path):
    for name, chip in chips.CHIPS.items():
        data = chips.check_image(image(tmp_path / f"{name}.bin", name), chip)
        assert chips.header_chip(data) == (None if name == "esp8266" else name)


def test_esptool_spells_the_commands_we_use():
    """esptool 5 renamed write_flash/erase_flash to write-flash/erase-flash."""
    from host_tools import tools
    out = subprocess.run(tools.command("esptool") + ["--help"], capture_output=True, text=True,
                         timeout=60).stdout
    for command in ("write-flash", "erase-flash"):
        assert command in out
    out = subprocess.run(tools.command("esptool") + ["write-flash", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    assert "--flash-size" in out and "detect" in out


# Serial ports ------------------------------------------------------------------------------

def test_missing_port():
    with pytest.raises(UserError) as err:
        serialport.check("/dev/ttyUSB-not-there")
    msg = str(err.value)
    assert "does not exist" in msg and "plugged in" in msg and "data cable" in msg and "mpremote devs" in msg


def test_no_port_given(site):
    rc, _, err = site.cli("flash", "--device", "esp-32")
    assert rc == 2 and "no serial port given" in err and "PORT=" in err


def test_port_without_permission(monkeypatch, tmp_path):
    # As root every file is readable, so the kernel's answer is stood in for here.
    port = tmp_path / "ttyFAKE"
    port.write_text("")
    monkeypatch.setattr(serialport.os, "access", lambda path, how: False)
    with pytest.raises(UserError) as err:
        serialport.check(str(port))
    assert "no permission" in str(err.value) and "usermod -aG" in str(err.value)


def test_port_held_by_another_program():
    """A pty held open by another process, as a serial monitor would hold /dev/ttyUSB0."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import os, sys; fd = os.open({name!r}, os.O_RDWR | os.O_NOCTTY); "
                               "print('open', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(UserError) as err:
            serialport.check(name)
        msg = str(err.value)
        assert "is busy" in msg and f"pid {holder.pid}" in msg and "serial monitor" in msg
    finally:
        holder.stdin.close()
        holder.wait(10)
        os.close(master)


def test_port_locked_by_a_pyserial_program():
    """pyserial's exclusive lock (flock) is seen even when /proc hides the holder."""
    import fcntl
    master, slave = os.openpty()
    name = os.ttyname(slave)
    fd = os.open(name, os.O_RDWR | os.O_NOCTTY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        # The /proc scan skips this process, so only the lock can tell.
        with pytest.raises(UserError, match="another program holds its lock"):
            serialport.check(name)
    finally:
        os.close(fd)
        os.close(slave)
        os.close(master)


def test_repl_and_dev_commands(tmp_path):
    site = Site(tmp_path)
    out = site.ok("repl", "--port", PORT, "--dry-run")
    assert tail_after(shlex.split(out), "mpremote") == ["connect", PORT, "repl"]
    out = site.ok("dev", "--port", PORT, "--dry-run")
    from host_tools.unixport import FIRMWARE
    assert tail_after(shlex.split(out), "mpremote") == ["connect", PORT, "mount", str(FIRMWARE),
                                                      "run", str(FIRMWARE / "main.py")]
    rc, _, err = site.cli("repl", "--port", "/dev/ttyUSB-not-there")
    assert rc == 2 and "does not exist" in err


def test_make_targets():
    """make build/flash/repl/dev call host_tools with the variables given; setup/test/demo/bench stay."""
    from host_tools.unixport import REPO

    def make_n(*args):
        proc = subprocess.run(["make", "-n", "-o", ".venv/.installed", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    out = make_n("flash", "DEVICE=node-7", "PORT=/dev/ttyUSB3", "FIRMWARE=fw.bin", "MPY=6.2")
    assert "-m host_tools build --mpy 6.2" in out
    assert '-m host_tools flash --port "/dev/ttyUSB3" --device node-7' in out and "--firmware fw.bin" in out
    # An ESP8266: the image with the node frozen in, no .mpy build.
    out = make_n("flash", "BOARD=esp8266", "DEVICE=esp-8", "PORT=/dev/ttyUSB3", "MICROPYTHON_SRC=/src/mp")
    assert '-m host_tools image --board esp8266 --micropython-src "/src/mp"' in out
    assert '-m host_tools flash --port "/dev/ttyUSB3" --device esp-8 --board esp8266' in out
    assert "host_tools build" not in out
    out = make_n("flash", "BOARD=esp8266", "DEVICE=esp-8", "PORT=/dev/ttyUSB3", "FIRMWARE=frozen.bin")
    assert "host_tools image" not in out and "host_tools build" not in out and "--firmware frozen.bin" in out
    assert '-m host_tools repl --port "/dev/ttyACM0"' in make_n("repl", "PORT=/dev/ttyACM0")
    assert '-m host_tools dev --port "/dev/ttyACM0"' in make_n("dev", "PORT=/dev/ttyACM0")
    assert "pytest" in make_n("test")
    assert "-m host_tools demo" in make_n("demo")
    assert "-m bench" in make_n("bench")


def test_flash_checks_the_port_before_running_anything(site, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC.bin", "esp32")
    rc, out, err = site.cli("flash", "--port", "/dev/ttyUSB-not-there", "--device", "esp-32", "--firmware", fw)
    assert rc == 2 and "does not exist" in err
    assert "step 1" not in out


def test_a_failing_tool_says_what_to_check():
    from host_tools import tools
    with pytest.raises(UserError) as err:
        tools.run(["false"], what="esptool", hint="hold the BOOT button")
    assert str(err.value) == "esptool failed with status 1: hold the BOOT button"
