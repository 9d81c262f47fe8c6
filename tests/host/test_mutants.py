"""The mutation check's list (tests/mutants.py, `make mutants`) follows the code: every mutant's
line is in its file exactly once, so none goes stale unnoticed between runs of the check."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "mutants.py"
spec = importlib.util.spec_from_file_location("mutants", SCRIPT)
mutants = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutants)


def test_the_list_has_a_mutant_for_each_guarded_behaviour():
    assert len(mutants.MUTANTS) >= 20
    names = [m.name for m in mutants.MUTANTS]
    assert len(set(names)) == len(names), "two mutants share a name"


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_each_mutant_applies_to_the_code_as_it_is(mutant, tmp_path):
    target = tmp_path / mutant.path
    target.parent.mkdir(parents=True)
    target.write_text((mutants.REPO / mutant.path).read_text())
    mutants.apply(mutant, tmp_path)
    changed = target.read_text()
    assert mutant.mutated in changed and changed != (mutants.REPO / mutant.path).read_text()
    for arg in mutant.tests:
        if arg.startswith("tests/"):
            assert (mutants.REPO / arg.split("::")[0]).exists(), arg


def test_a_line_that_is_not_there_is_an_error(tmp_path):
    m = mutants.Mutant("gone", "firmware/node/backoff.py", "no such line", "x", ())
    (tmp_path / "firmware/node").mkdir(parents=True)
    (tmp_path / m.path).write_text((mutants.REPO / m.path).read_text())
    with pytest.raises(ValueError, match="0 times"):
        mutants.apply(m, tmp_path)
