"""The MQTT client's error texts live in firmware/node/mqtt/errors.py (imported only when an
error is raised); the modules name them by index with private constants `_E_<NAME> =
const(n)`. Every such constant must be the index of its name there, or an error would say
something else than what happened."""

import re
from pathlib import Path

MQTT = Path(__file__).resolve().parents[2] / "firmware" / "node" / "mqtt"
CONST = re.compile(r"^_E_(\w+) = const\((\d+)\)", re.M)


def indices():
    text = (MQTT / "errors.py").read_text()
    return {name: int(i) for i, name in re.findall(r"^    # (\d+) (\w+)", text, re.M)}


def test_every_text_is_named_in_order():
    import importlib.util
    spec = importlib.util.spec_from_file_location("mqtt_errors", MQTT / "errors.py")
    errors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(errors)
    names = indices()
    assert sorted(names.values()) == sorted(set(names.values()))
    assert max(names.values()) < len(errors.TEXT)


def test_each_module_constant_is_the_index_of_its_name():
    names = indices()
    used = 0
    for module in sorted(MQTT.glob("*.py")):
        for name, value in CONST.findall(module.read_text()):
            assert name in names, f"{module.name}: _E_{name} names no text in errors.py"
            assert int(value) == names[name], (f"{module.name}: _E_{name} = {value}, but "
                                               f"errors.py has it at {names[name]}")
            used += 1
    assert used > 20
