"""pytest plugin: run tests/device/test_*.py inside the unix port of MicroPython.

Each top-level `def test_*()` of a device test module becomes one pytest item.
The item starts a fresh `micropython` process in an empty temporary directory
with firmware/ and the module's own folder on its path, imports the module and
calls the function. It passes only when the function returns (the runner then
prints a marker); an exception, a crash or a timeout fails it, and the report
shows what MicroPython printed, traceback included.

A module sets its per-test time limit with a top-level `TIMEOUT = <seconds>`
(default 60, or --device-timeout), and a heap cap with `HEAPSIZE = <bytes>`. A module
that sets `PORTS = "esp32 esp8266"` runs each function once per port, as `test_x[esp32]`
and `test_x[esp8266]`, with the port's name in the DEVICE_PORT environment variable (the
board adapter tests load that port's fakes by it).
"""

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from host_tools import unixport

RUNNER = Path(__file__).with_name("device_runner.py")
PASS_MARKER = "DEVICE-TEST-PASSED"
_TEST_DEF = re.compile(r"^def (test_\w+)\s*\(", re.M)
_SETTING = re.compile(r"^(TIMEOUT|HEAPSIZE)\s*=\s*(\d+)", re.M)
_PORTS = re.compile(r'^PORTS\s*=\s*"([\w ]+)"', re.M)


def pytest_addoption(parser):
    parser.addoption(
        "--device-timeout", type=float, default=60.0,
        help="seconds a device test may run before it is stopped (default 60)",
    )


def _is_device_module(path: Path) -> bool:
    return path.parent.name == "device" and path.name.startswith("test_") and path.suffix == ".py"


def pytest_pycollect_makemodule(module_path, parent):
    # Replaces pytest's own Module collector so CPython never imports these files.
    if _is_device_module(Path(module_path)):
        return DeviceModule.from_parent(parent, path=Path(module_path))
    return None


class DeviceModule(pytest.File):
    def collect(self):
        source = self.path.read_text()
        settings = dict((k, int(v)) for k, v in _SETTING.findall(source))
        ports = _PORTS.search(source)
        ports = ports.group(1).split() if ports else [None]
        seen = set()
        for name in _TEST_DEF.findall(source):
            if name in seen:
                continue
            seen.add(name)
            for port in ports:
                yield DeviceItem.from_parent(self, name=name if port is None else f"{name}[{port}]",
                                             func_name=name, port=port, settings=settings)


class DeviceTestFailed(Exception):
    def __init__(self, summary, output):
        super().__init__(summary)
        self.summary = summary
        self.output = output


class DeviceItem(pytest.Item):
    def __init__(self, *, func_name, port, settings, **kw):
        super().__init__(**kw)
        self.func_name = func_name  # not "function": pytest takes that for a Python function
        self.port = port
        self.settings = settings

    def runtest(self):
        timeout = self.settings.get("TIMEOUT") or self.config.getoption("--device-timeout")
        module = self.path.stem
        env = {"DEVICE_TEST_DIR": str(self.path.parent)}
        if self.port:
            env["DEVICE_PORT"] = self.port
        with tempfile.TemporaryDirectory(prefix="devtest-") as workdir:
            try:
                proc = unixport.run(
                    [str(RUNNER), module, self.func_name],
                    path_extra=[self.path.parent],
                    cwd=workdir,
                    env=env,
                    timeout=timeout,
                    heapsize=self.settings.get("HEAPSIZE"),
                )
            except subprocess.TimeoutExpired as exc:
                out = _text(exc.stdout) + _text(exc.stderr)
                raise DeviceTestFailed(
                    f"device test timed out after {timeout:g} s (hung?) and was stopped", out
                ) from None
        out = proc.stdout + proc.stderr
        if proc.returncode == 0 and PASS_MARKER in proc.stdout:
            return
        if proc.returncode < 0:
            summary = f"micropython crashed (signal {-proc.returncode})"
        elif proc.returncode == 0:
            summary = "test function did not return (the process exited early)"
        else:
            summary = f"micropython exited with status {proc.returncode}"
        raise DeviceTestFailed(summary, out)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, DeviceTestFailed):
            err = excinfo.value
            return f"{err.summary}\n--- MicroPython output ---\n{err.output.rstrip()}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.name} [micropython]"


def _text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
