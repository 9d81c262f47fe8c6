"""`flash`: the esptool and mpremote commands for each chip, images checked before writing,
and serial ports that are missing, not ours or busy."""

import os
import shlex
import subprocess
import sys

import pytest

from integration.host_site import Site
from host_tools.device import flash, serialport
from host_tools.errors import UserError

PORT = "/dev/ttyUSB7"


def image(path, chip_id=None):
    """A file that starts like an ESP image (magic 0xE9; ESP32 family: chip id at byte 12)."""
    head = bytearray(16)
    head[0] = 0xE9
    if chip_id is not None:
        head[12:14] = chip_id.to_bytes(2, "little")
    path.write_bytes(bytes(head) + bytes(64))
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    # Read-only for the tests below: made once.
    s = Site(tmp_path_factory.mktemp("flash-site"))
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "broker.lan", "--ip", "192.168.1.10")
    env = {"WIFI_PASSWORD": "correct horse"}
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


def test_dry_run_esp8266(site, tmp_path):
    fw = image(tmp_path / "ESP8266_GENERIC-v1.24.1.bin")
    erase, write, copy = dry_run(site, "--device", "esp-8", "--firmware", fw)
    assert tail_after(erase, "esptool") == ["--chip", "esp8266", "--port", PORT, "--baud", "460800",
                                           "erase-flash"]
    assert tail_after(write, "esptool") == ["--chip", "esp8266", "--port", PORT, "--baud", "460800",
                                           "write-flash", "--flash-size", "detect", "0x0", str(fw)]
    build_dir = site.root / "build" / "firmware"
    bundle = site.bundle("esp-8")
    assert tail_after(copy, "mpremote") == [
        "connect", PORT, "sleep", "4", "+",
        "fs", "cp", "-r", str(build_dir / "main.py"), str(build_dir / "node"), ":",
        "+", "fs", "cp", str(bundle / "ca.der"), str(bundle / "config.json"), ":",
        "+", "reset"]


def test_dry_run_esp32_and_its_variants(site, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC.bin", chip_id=0)
    erase, write, copy = dry_run(site, "--device", "esp-32", "--firmware", fw)
    assert tail_after(erase, "esptool")[:2] == ["--chip", "esp32"]
    assert tail_after(write, "esptool")[-3:] == ["write-flash", "0x1000", str(fw)]
    assert str(site.bundle("esp-32") / "config.json") in copy
    for chip, chip_id, offset in (("esp32s2", 2, "0x1000"), ("esp32s3", 9, "0x0"), ("esp32c3", 5, "0x0"),
                                  ("esp32c6", 13, "0x0"), ("esp32c5", 23, "0x2000"), ("esp32p4", 18, "0x2000")):
        fw = image(tmp_path / f"{chip}.bin", chip_id=chip_id)
        _, write, _ = dry_run(site, "--board", "esp32", "--chip", chip, "--firmware", fw)
        assert tail_after(write, "esptool")[:2] == ["--chip", chip]
        assert tail_after(write, "esptool")[-2:] == [offset, str(fw)], chip


def test_without_firmware_only_files_are_copied(site):
    (copy,) = dry_run(site, "--device", "esp-32")
    args = tail_after(copy, "mpremote")
    # The board keeps its MicroPython and files; the old node/ goes so no stale .py shadows a .mpy.
    assert args[2] == "exec" and "rm('node')" in args[3] and "\n" not in args[3]
    assert args[4:8] == ["+", "fs", "cp", "-r"] and args[-2:] == ["+", "reset"]


def test_images_are_checked(site, tmp_path):
    rc, _, err = site.cli("flash", "--port", PORT, "--dry-run", "--device", "esp-32",
                          "--firmware", image(tmp_path / "s3.bin", chip_id=9))
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


def test_chip_table_matches_esptool():
    """Offsets from esptool's own chip classes (BOOTLOADER_FLASH_OFFSET)."""
    from esptool.targets import CHIP_DEFS
    for name, chip in flash.CHIPS.items():
        rom = CHIP_DEFS[name]
        assert chip.offset == rom.BOOTLOADER_FLASH_OFFSET, name
        if chip.image_chip_id is not None:
            assert chip.image_chip_id == rom.IMAGE_CHIP_ID, name


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
    assert '-m host_tools repl --port "/dev/ttyACM0"' in make_n("repl", "PORT=/dev/ttyACM0")
    assert '-m host_tools dev --port "/dev/ttyACM0"' in make_n("dev", "PORT=/dev/ttyACM0")
    assert "pytest" in make_n("test")
    assert "-m host_tools demo" in make_n("demo")
    assert "-m bench" in make_n("bench")


def test_flash_checks_the_port_before_running_anything(site, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC.bin", chip_id=0)
    rc, out, err = site.cli("flash", "--port", "/dev/ttyUSB-not-there", "--device", "esp-32", "--firmware", fw)
    assert rc == 2 and "does not exist" in err
    assert "step 1" not in out


def test_a_failing_tool_says_what_to_check():
    from host_tools import tools
    with pytest.raises(UserError) as err:
        tools.run(["false"], what="esptool", hint="hold the BOOT button")
    assert str(err.value) == "esptool failed with status 1: hold the BOOT button"
