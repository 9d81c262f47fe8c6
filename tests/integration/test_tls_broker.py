"""node.tls + node.mqtt under the unix port against a real Mosquitto over TLS: every mode, and
every way server authentication can fail, each refused before CONNECT with a message that
names the cause and the fix."""

import datetime as dt

import pytest

from host_tools import certs
from host_tools.monitor import Monitor

import mqtt_run

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def folder(tmp_path, test_pki):
    """The device side: the test CA in DER, another CA's, a client certificate and key."""
    mqtt_run.write_der(tmp_path / "ca.der", test_pki.ca_cert)
    other_key = certs.generate_key("rsa")
    other = certs.build_ca("some other CA", other_key)
    (tmp_path / "other-ca.der").write_bytes(certs.cert_der(other))
    ca_cert, ca_key = test_pki.load_ca()
    key = certs.generate_key("rsa")
    cert = certs.build_leaf(ca_cert, ca_key, "node-1", key, server=False)
    (tmp_path / "client.der").write_bytes(certs.cert_der(cert))
    certs.write_secret(tmp_path / "client.key.der", certs.key_der(key), force=True)
    return tmp_path


def broker_cert(tmp_path, test_pki, name, key_type="rsa", **kw):
    """A broker certificate for localhost signed by the test CA; returns (cert, key, pin)."""
    ca_cert, ca_key = test_pki.load_ca()
    key = certs.generate_key(key_type)
    cert = certs.build_leaf(ca_cert, ca_key, "localhost", key, dns_names=("localhost",),
                            ip_addresses=("127.0.0.1",), **kw)
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    certs.write_public(cert_path, certs.cert_pem(cert))
    certs.write_secret(key_path, certs.key_pem(key), force=True)
    return cert_path, key_path, certs.fingerprint_sha256(cert)


def params(b, **kw):
    p = dict(port=b.tls_port, user="node-1", password=b.users["node-1"],
             tls={"mode": "ca", "ca": "ca.der"})
    p.update(kw)
    return p


def assert_no_login(b):
    # Mosquitto logs "New client connected ... as <id>" only once it has read a CONNECT.
    assert "as node-1" not in b.log_text(), b.log_text()


ATTEMPT = """
out = {}
for name, tls in P["cases"]:
    c = client(tls)
    err = error_of(c.connect)
    if err is None:
        out[name] = ["ok", c.publish("nodes/node-1/tls", name, qos=1)]
        c.disconnect()
    else:
        out[name] = err
result(out)
"""


def test_ca_pin_and_both_accept_the_right_broker(folder, test_pki, broker):
    pin = certs.fingerprint_sha256(certs.load_cert(test_pki.broker_cert))
    colons = ":".join(pin[i:i + 2] for i in range(0, 64, 2)).upper()
    cases = [
        ["ca", {"mode": "ca", "ca": "ca.der"}],
        ["pin", {"mode": "pin", "pins": [pin]}],
        ["pin-rotation", {"mode": "pin", "pins": ["00" * 32, colons]}],
        ["ca+pin", {"mode": "ca+pin", "ca": "ca.der", "pins": [pin]}],
    ]
    with Monitor(broker.host, broker.tls_port, broker.ca_pem, "monitor", broker.users["monitor"]) as mon:
        proc, res = mqtt_run.run(folder, ATTEMPT, params(broker, cases=cases))
        assert res is not None, proc.stdout + proc.stderr
        for name, _ in cases:
            assert res[name] == ["ok", 1], (name, res[name])
        assert mon.wait_count(4, timeout=10)
    assert sorted(m.payload for m in mon.messages) == sorted(n.encode() for n, _ in cases)


def test_wrong_pin_and_ca_plus_pin_are_refused_before_connect(folder, test_pki, broker):
    pin = certs.fingerprint_sha256(certs.load_cert(test_pki.broker_cert))
    wrong = ["ab" * 32, "cd" * 32]
    cases = [["pin", {"mode": "pin", "pins": wrong}],
             ["ca+pin", {"mode": "ca+pin", "ca": "ca.der", "pins": wrong}]]
    proc, res = mqtt_run.run(folder, ATTEMPT, params(broker, cases=cases))
    assert res is not None, proc.stdout + proc.stderr
    for name, _ in cases:
        kind, text = res[name]
        assert kind == "TLSError", res[name]
        assert "wrong pin" in text and pin in text, text          # the pin seen
        assert all(w in text for w in wrong), text                # and the pins expected
    assert_no_login(broker)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_pin_mode_with_ec_and_rsa_broker_keys(folder, test_pki, broker_factory, tmp_path, key_type):
    cert, key, pin = broker_cert(tmp_path, test_pki, f"broker-{key_type}", key_type)
    b = broker_factory(certfile=cert, keyfile=key)
    cases = [["right", {"mode": "pin", "pins": [pin]}],
             ["wrong", {"mode": "pin", "pins": ["ee" * 32]}]]
    proc, res = mqtt_run.run(folder, ATTEMPT, params(b, cases=cases))
    assert res is not None, proc.stdout + proc.stderr
    assert res["right"] == ["ok", 1], res
    assert res["wrong"][0] == "TLSError" and pin in res["wrong"][1], res


def test_wrong_hostname_and_untrusted_ca(folder, broker):
    cases = [["hostname", {"mode": "ca", "ca": "ca.der", "server_hostname": "not-the-broker.example"}],
             ["untrusted", {"mode": "ca", "ca": "other-ca.der"}]]
    proc, res = mqtt_run.run(folder, ATTEMPT, params(broker, cases=cases))
    assert res is not None, proc.stdout + proc.stderr
    kind, text = res["hostname"]
    assert kind == "TLSError" and "wrong hostname" in text and "not-the-broker.example" in text, text
    assert "tls.server_hostname" in text, text
    kind, text = res["untrusted"]
    assert kind == "TLSError" and "untrusted CA" in text and "tls.ca" in text, text
    assert_no_login(broker)


def test_expired_and_not_yet_valid_certificates(folder, test_pki, broker_factory, tmp_path):
    old = broker_cert(tmp_path, test_pki, "expired", days=1, not_before=NOW - dt.timedelta(days=10))
    new = broker_cert(tmp_path, test_pki, "future", days=30, not_before=NOW + dt.timedelta(days=3))
    for (cert, key, _), words in ((old, ("expired", "NTP")), (new, ("not valid yet", "clock", "NTP"))):
        b = broker_factory(certfile=cert, keyfile=key)
        proc, res = mqtt_run.run(folder, ATTEMPT, params(b, cases=[["ca", {"mode": "ca", "ca": "ca.der"}]]))
        assert res is not None, proc.stdout + proc.stderr
        kind, text = res["ca"]
        assert kind == "TLSError", res
        for w in words:
            assert w in text, text
        assert_no_login(b)


def test_plain_mqtt_port_and_tls13_only_broker(folder, test_pki, broker_factory):
    b = broker_factory()
    pin = certs.fingerprint_sha256(certs.load_cert(test_pki.broker_cert))
    cases = [["ca", {"mode": "ca", "ca": "ca.der"}], ["pin", {"mode": "pin", "pins": [pin]}]]
    proc, res = mqtt_run.run(folder, ATTEMPT, params(b, port=b.plain_port, cases=cases))
    assert res is not None, proc.stdout + proc.stderr
    for name, _ in cases:
        kind, text = res[name]
        # an OSError, not a TLSError: a broker that is just starting closes like this too
        assert kind == "OSError" and "plain MQTT listener" in text and "8883" in text, res[name]
    t13 = broker_factory(tls_version="tlsv1.3")
    proc, res = mqtt_run.run(folder, ATTEMPT, params(t13, cases=[["pin", {"mode": "pin", "pins": [pin]}]]))
    kind, text = res["pin"]
    assert kind == "TLSError" and "TLS 1.2" in text and "tls_version" in text, res
    assert_no_login(t13)


def test_mutual_tls_required_missing_and_given(folder, broker_factory):
    b = broker_factory(require_certificate=True)
    mtls = {"mode": "ca", "ca": "ca.der", "cert": "client.der", "key": "client.key.der"}
    cases = [["missing", {"mode": "ca", "ca": "ca.der"}], ["given", mtls]]
    proc, res = mqtt_run.run(folder, ATTEMPT, params(b, cases=cases))
    assert res is not None, proc.stdout + proc.stderr
    kind, text = res["missing"]
    assert kind == "TLSError" and "requires a client certificate" in text and "tls.cert" in text, text
    assert res["given"] == ["ok", 1], res


def test_insecure_works_only_when_asked_and_warns_every_connect(folder, broker):
    body = """
    c = client({"mode": "insecure"})
    for i in range(2):
        c.connect()
        c.publish("nodes/node-1/x", "insecure", qos=1)
        c.disconnect()
    result("done")
    """
    # The device holds another CA: only "insecure" lets it talk to this broker at all.
    proc, res = mqtt_run.run(folder, body, params(broker, tls={"mode": "ca", "ca": "other-ca.der"}))
    assert res == "done", proc.stdout + proc.stderr
    assert proc.stdout.count("WARNING: tls.mode is \"insecure\"") == 2, proc.stdout
