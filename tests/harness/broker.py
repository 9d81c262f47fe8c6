"""pytest plugin: a real Mosquitto on free loopback ports, with certificates made for the run.

Fixtures:
  test_pki        (session) a CA and an RSA broker certificate for localhost/127.0.0.1
  broker_factory  start(**options) -> LocalBroker (see host_tools.localbroker.prepare for the
                  options); every broker started is stopped after the test
  broker          a default broker: TLS and plain listeners, allow_anonymous false,
                  password file and ACL, users "node-1" (a device) and "monitor" (a back end)

When a test fails, the log of each broker it started is attached to the report.
"""

import pytest

from host_tools import broker as mosq
from host_tools import localbroker
from host_tools.errors import UserError
from host_tools.pki import Pki

DEVICE = "node-1"
MONITOR = "monitor"


@pytest.fixture(scope="session")
def mosquitto_exe():
    try:
        return mosq.find_mosquitto()
    except UserError as exc:
        pytest.fail(f"{exc}; the integration tests need a real broker", pytrace=False)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory):
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.create_ca(common_name="mqtt-node test CA")
    pki.issue_broker(dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    return pki


@pytest.fixture
def broker_factory(request, tmp_path, test_pki, mosquitto_exe):
    started = []
    request.node._brokers = started

    def start(*, devices=(DEVICE,), monitors=(MONITOR,), plain=True, pki=None,
              autosave_interval=1, **options):
        running = localbroker.prepare(
            tmp_path / f"broker{len(started)}", pki or test_pki, devices=devices,
            monitors=monitors, plain=plain, autosave_interval=autosave_interval, **options)
        started.append(running)
        try:
            return running.start()
        except UserError as exc:
            pytest.fail(str(exc), pytrace=False)

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    brokers = getattr(item, "_brokers", None)
    if report.failed and brokers:
        for i, running in enumerate(brokers):
            report.sections.append((f"mosquitto log (broker {i}, {report.when})", running.log_text()))
