import pytest

from faultreport import fault_report, pytest_terminal_summary, refusal_report  # noqa: F401 (fault suite)
from nodesim import NodeSim


@pytest.fixture
def node_sim(tmp_path, broker_factory):
    """node_sim(node_opts=..., mqtt_opts=..., proxy=False, broker=None) -> NodeSim."""
    made = []

    def make(broker=None, **kw):
        sim = NodeSim(tmp_path / f"sim{len(made)}", broker or broker_factory(), **kw)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()
