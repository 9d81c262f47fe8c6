"""`build`: firmware/ compiled by mpy-cross for the board's .mpy version."""

import os
import subprocess

import pytest

from harness.serialboard import SerialMicroPython
from integration.host_site import Site
from host_tools import build, unixport
from host_tools.errors import UserError


def micropython_in(path, code, timeout=30):
    """Run code in the unix port with only `path` importable (not firmware/)."""
    full = dict(os.environ, MICROPYPATH=f".frozen:{path}")
    return subprocess.run([unixport.interpreter(), "-c", code], env=full, capture_output=True,
                          text=True, timeout=timeout, cwd=path)


def test_build_compiles_modules_keeps_main_and_prints_sizes(tmp_path):
    site = Site(tmp_path)
    out_dir = tmp_path / "fw"
    out = site.ok("build", "--out", out_dir)
    sources = sorted(p.relative_to(unixport.FIRMWARE) for p in unixport.FIRMWARE.rglob("*.py")
                     if "__pycache__" not in p.parts and build.for_board(p.relative_to(unixport.FIRMWARE)))
    assert not (out_dir / "sim").exists() and not (out_dir / "manifest.mpy").exists()
    assert not list(out_dir.rglob("manifest.*")) and not list(out_dir.rglob("package.json"))
    for rel in sources:
        if str(rel) in build.KEEP_SOURCE:
            assert (out_dir / rel).read_bytes() == (unixport.FIRMWARE / rel).read_bytes()
            assert f"{rel}" in out and "kept as source" in out
        else:
            mpy = out_dir / rel.with_suffix(".mpy")
            assert mpy.read_bytes()[:2] == b"M\x06", rel
            assert not (out_dir / rel).exists()
            assert f"{rel.with_suffix('.mpy')}" in out
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file() and p.name != build.MARKER)
    assert f"{total:>7,} B" in out and "total" in out
    assert "build: mpy 6.3" in out


def test_built_modules_load_and_run_under_the_unix_port(tmp_path):
    result = build.build(out=tmp_path / "fw")
    code = ("import node.config, node.backoff\n"
            "for m in (node.config, node.backoff):\n"
            "    assert m.__file__.endswith('.mpy'), m.__file__\n"
            "cfg = node.config.validate({'device_id': 'n1', 'mqtt': {'host': 'h'}})\n"
            "print('OK', cfg['mqtt']['topic_prefix'], node.backoff.delay_ms(2, 0))\n")
    proc = micropython_in(result.out, code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK nodes/n1 2000" in proc.stdout


def test_older_mpy_versions_use_the_archived_compilers(tmp_path):
    src = tmp_path / "src"
    (src / "node").mkdir(parents=True)
    (src / "main.py").write_text("import node.x\n")
    (src / "node" / "__init__.py").write_text("")
    (src / "node" / "x.py").write_text("def f(a):\n    return a * 2\n")
    for mpy, header in (("6.2", b"M\x06"), ("6.1", b"M\x06"), ("6", b"M\x06"), ("5", b"M\x05")):
        result = build.build(src=src, out=tmp_path / f"out{mpy}", mpy=mpy)
        assert (result.out / "node" / "x.mpy").read_bytes()[:2] == header
    # This unix port (mpy 6.3) refuses v5 files, which is why the version matters.
    proc = micropython_in(tmp_path / "out5", "import node.x")
    assert proc.returncode != 0 and "incompatible .mpy" in proc.stdout + proc.stderr
    proc = micropython_in(tmp_path / "out6.2", "import node.x; print(node.x.f(21))")
    assert proc.stdout.strip() == "42", proc.stdout + proc.stderr


def test_version_from_the_firmware_release():
    assert build.mpy_for_release("1.22.2") == "6.2"
    assert build.mpy_for_release("v1.24.1") == "6.3"
    assert build.mpy_for_release("1.19.1") == "6"
    assert build.mpy_for_release("1.13") == "5"
    with pytest.raises(UserError, match="older than 1.12"):
        build.mpy_for_release("1.11")
    with pytest.raises(UserError, match="not a version"):
        build.mpy_for_release("latest")


def test_cli_version_choices(tmp_path):
    site = Site(tmp_path)
    out = site.ok("build", "--micropython", "1.22", "--out", tmp_path / "a")
    assert "build: mpy 6.2" in out and "for MicroPython 1.22" in out
    rc, _, err = site.cli("build", "--mpy", "7", "--out", tmp_path / "b")
    assert rc == 2 and "unknown mpy version" in err
    rc, _, err = site.cli("build", "--mpy", "6.3", "--micropython", "1.22")
    assert rc == 2 and "one of" in err


def test_compile_errors_name_the_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.py").write_text("")
    (src / "bad.py").write_text("def f(:\n")
    with pytest.raises(UserError, match="could not compile bad.py for mpy 6.3"):
        build.build(src=src, out=tmp_path / "out")


def test_native_code_needs_the_chip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.py").write_text("")
    (src / "fast.py").write_text("import micropython\n@micropython.native\ndef f(x):\n    return x\n")
    with pytest.raises(UserError, match="--board"):
        build.build(src=src, out=tmp_path / "out")
    result = build.build(src=src, out=tmp_path / "out", arch=build.BOARD_ARCH["esp32"])
    header = (result.out / "fast.mpy").read_bytes()[:3]
    assert header[2] >> 2 == build.ARCHES.index("xtensawin")


def test_out_folder_that_is_not_a_build_is_left_alone(tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="not made by `build`"):
        build.build(out=precious)
    assert (precious / "notes.txt").read_text() == "keep"


def test_build_reads_the_mpy_version_from_a_connected_board(tmp_path):
    board = SerialMicroPython(tmp_path)
    try:
        mpy, arch, version = build.board_mpy(board.port)
        assert (mpy, arch) == ("6.3", "x64") and version.startswith("1.29")
        out = Site(tmp_path).ok("build", "--port", board.port, "--out", tmp_path / "fw")
        assert f"build: mpy 6.3 in {tmp_path / 'fw'}/ (read from the board on {board.port}" in out
    finally:
        board.close()
