import pytest

from faultreport import fault_report, pytest_terminal_summary, refusal_report  # noqa: F401 (fault suite)
from host_site import Site
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


@pytest.fixture
def site_factory(tmp_path, mosquitto_exe):
    """site_factory(devices, monitors, start=True) -> host_site.Site: a project folder made by
    the host tools (CA, broker certificate, `broker config`, unix devices, back-end logins), its
    broker running unless start=False; stopped after the test."""
    made = []

    def make(devices=("node-a",), monitors=(), start=True):
        s = Site(tmp_path)
        s.setup(devices=devices, monitors=monitors)
        if start:
            s.start_broker()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
