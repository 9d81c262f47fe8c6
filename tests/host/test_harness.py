"""The test harness itself: device tests fail, crash and hang the way they should."""

import os
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_device(pytester, monkeypatch):
    """Run pytest on one device test module with the given source; returns the RunResult."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))

    def run(source):
        device = pytester.mkdir("device")
        (device / "test_sample.py").write_text(textwrap.dedent(source))
        return pytester.runpytest_subprocess("-p", "harness.devicetests", "-v", timeout=120)

    return run


def test_passing_and_failing_device_tests_are_separate_items(run_device):
    result = run_device("""
        def test_ok():
            assert 1 + 1 == 2

        def test_bad():
            assert [1, 2] == [1, 3], "lists differ"
    """)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*test_sample.py::test_ok PASSED*",
        "*test_sample.py::test_bad FAILED*",
        "*Traceback (most recent call last)*",
        "*AssertionError: lists differ*",
    ])
    assert result.ret != 0


def test_device_tests_run_in_micropython_not_cpython(run_device):
    result = run_device("""
        import sys

        def test_impl():
            assert sys.implementation.name == "micropython", sys.implementation.name
    """)
    result.assert_outcomes(passed=1)


def test_firmware_is_importable(run_device):
    result = run_device("""
        def test_import():
            from node import config
            assert config.validate({"device_id": "d", "mqtt": {"host": "h"}})["mqtt"]["port"] == 8883
    """)
    result.assert_outcomes(passed=1)


def test_ports_run_each_function_once_per_port(run_device):
    result = run_device("""
        import os

        PORTS = "esp32 esp8266"

        def test_port():
            assert os.getenv("DEVICE_PORT") == "esp8266", os.getenv("DEVICE_PORT")
    """)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_sample.py::test_port?esp32? FAILED*",
                                 "*test_sample.py::test_port?esp8266? PASSED*",
                                 "*AssertionError: esp32*"])


def test_crash_at_import_fails(run_device):
    result = run_device("""
        raise RuntimeError("broken module")

        def test_never_runs():
            pass
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: broken module*"])


def test_early_exit_is_not_a_pass(run_device):
    result = run_device("""
        import sys

        def test_exits():
            sys.exit(0)
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*did not return*"])


def test_unbounded_recursion_is_reported(run_device):
    result = run_device("""
        def f(n):
            return f(n + 1) + 1

        def test_recurse():
            f(0)
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: maximum recursion depth exceeded*"])


def test_hanging_device_test_is_stopped_by_timeout(run_device):
    result = run_device("""
        TIMEOUT = 2

        def test_hangs():
            print("about to hang")
            while True:
                pass

        def test_after():
            pass
    """)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*timed out after 2 s*", "*about to hang*"])


def test_memory_error_under_a_heap_cap(run_device):
    result = run_device("""
        HEAPSIZE = 20000

        def test_big():
            bytearray(100000)
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*MemoryError*"])


def test_segfault_is_reported_as_a_crash(run_device):
    result = run_device("""
        import uctypes

        def test_segv():
            uctypes.bytearray_at(0, 1)[0]
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*micropython crashed (signal 11)*"])
