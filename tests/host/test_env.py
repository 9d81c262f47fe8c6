"""MQTT_* settings from the environment and .env, with the aliases the usual Mosquitto TLS guides use."""

import pytest

from host_tools import cli, env
from host_tools.errors import UserError


def load(environ=None, dotenv_text=None, tmp_path=None):
    path = None
    if dotenv_text is not None:
        path = tmp_path / ".env"
        path.write_text(dotenv_text)
    return env.load(environ=environ or {}, dotenv=path)


def test_every_alias_the_guides_use(tmp_path):
    s = load({"MQTT_HOST": "h", "MQTT_PORT": "8883", "MQTT_USE_TLS": "true", "MQTT_TLS_INSECURE": "false",
              "MQTT_CA_CERT": "ca.crt", "MQTT_CLIENT_CERT": "c.pem", "MQTT_CLIENT_KEY": "k.pem",
              "MQTT_USER": "u", "MQTT_PASSWORD": "p", "MQTT_CLIENT_ID": "id"})
    assert (s.host, s.port, s.use_tls, s.tls_insecure, s.ca_certs, s.certfile, s.keyfile,
            s.username, s.password, s.client_id) == ("h", 8883, True, False, "ca.crt", "c.pem",
                                                    "k.pem", "u", "p", "id")
    s = load({"MQTT_BROKER_HOST": "h2", "MQTT_BROKER_PORT": "1884", "MQTT_CA_CERTS": "a",
              "MQTT_CERTFILE": "c", "MQTT_KEYFILE": "k", "MQTT_USERNAME": "u2"})
    assert (s.host, s.port, s.ca_certs, s.certfile, s.keyfile, s.username) == ("h2", 1884, "a", "c", "k", "u2")
    assert s.origin["host"] == "MQTT_BROKER_HOST (environment)"


def test_default_port_follows_tls(tmp_path):
    assert load({}).effective_port() == 8883
    assert load({"MQTT_USE_TLS": "false"}).effective_port() == 1883
    assert load({"MQTT_PORT": "1883"}).tls is False


def test_dotenv_as_guides_write_it_and_environment_wins(tmp_path):
    text = ("# broker\nexport MQTT_BROKER_HOST=from-file\nMQTT_BROKER_PORT=8883\n"
            "MQTT_TLS_INSECURE=true  # Required for self-signed certs\n"
            "MQTT_PASSWORD='with # hash'\nMQTT_CLIENT_ID=\"quoted id\"\n\n")
    s = load({"MQTT_HOST": "from-env"}, text, tmp_path)
    assert s.host == "from-env"
    assert s.port == 8883 and s.tls_insecure is True
    assert s.password == "with # hash" and s.client_id == "quoted id"
    assert s.origin["port"].endswith(".env)")


def test_two_names_of_one_setting_must_agree(tmp_path):
    with pytest.raises(UserError, match="MQTT_BROKER_HOST='a' and MQTT_HOST='b'.*set only MQTT_BROKER_HOST"):
        load({"MQTT_BROKER_HOST": "a", "MQTT_HOST": "b"})
    # The same value under both names is fine.
    assert load({"MQTT_BROKER_HOST": "a", "MQTT_HOST": "a"}).host == "a"


def test_misspelt_names_are_named_with_the_intended_one(tmp_path):
    s = load({"MQTT_BROKR_HOST": "h", "mqtt_password": "x", "MQTT_TOPIC": "t", "MQTT_USE_TSL": "1",
              "WIFI_PASWORD": "w"})
    text = "\n".join(s.warnings)
    assert "MQTT_BROKR_HOST (environment) is not a setting host_tools reads: did you mean MQTT_BROKER_HOST?" in text
    assert "did you mean MQTT_PASSWORD?" in text
    assert "did you mean MQTT_USE_TLS?" in text
    assert "did you mean WIFI_PASSWORD?" in text
    assert "MQTT_TOPIC" not in text      # another program's setting, not a near miss
    s = load({}, "MQTT_CA_CERTZ=x\n", tmp_path)
    assert any("MQTT_CA_CERTZ" in w and ".env" in w and "did you mean MQTT_CA_CERT" in w for w in s.warnings)


def test_bad_values_name_the_variable(tmp_path):
    with pytest.raises(UserError, match="MQTT_PORT='88a3' .* is not a port"):
        load({"MQTT_PORT": "88a3"})
    with pytest.raises(UserError, match="MQTT_USE_TLS='maybe' .* true or false"):
        load({"MQTT_USE_TLS": "maybe"})
    with pytest.raises(UserError, match=r"\.env line 2 is not NAME=value"):
        load({}, "A=1\njunk line\n", tmp_path)


def test_env_command_hides_secrets(tmp_path, capsys, monkeypatch):
    dotenv = tmp_path / "my.env"
    dotenv.write_text("MQTT_HOST=broker.lan\nMQTT_PASSWORD=hunter22\nMQTT_BROKR_PORT=1\n")
    for k in list(__import__("os").environ):
        if k.startswith(("MQTT_", "WIFI_")):
            monkeypatch.delenv(k)
    assert cli.main(["--env-file", str(dotenv), "env"]) == 0
    out, err = capsys.readouterr()
    assert "hunter22" not in out + err
    assert "MQTT_PASSWORD      (set, hidden)" in out
    assert "MQTT_BROKER_HOST   broker.lan   from MQTT_HOST" in out
    assert "did you mean MQTT_BROKER_PORT?" in err


def test_missing_env_file_given_explicitly(tmp_path, capsys):
    assert cli.main(["--env-file", str(tmp_path / "nope.env"), "env"]) == 2
    assert "does not exist" in capsys.readouterr().err
