"""Config errors name the file and the key."""

import pytest

from edge_agent.config import load_config as load_agent
from hub.config import load_config as load_hub
from runtime.config import ConfigError


def write(tmp_path, text):
    p = tmp_path / "conf.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, key", [
    ('data_dir = "x"\n', "store_id"),
    ('store_id = "S1"\ndata_dir = "x"\n[api]\nlisten = "nope"\n', "api.listen"),
    ('store_id = "S1"\ndata_dir = "x"\n[api]\nlisten = 8700\n', "api.listen"),
    ('store_id = "S/1"\ndata_dir = "x"\n', "store_id"),
    ('store_id = "S1"\ndata_dir = "x"\ntimezone = "Mars/Olympus"\n', "timezone"),
    ('store_id = "S1"\ndata_dir = "x"\n[mqtt]\nurl = "http://h"\n', "mqtt.url"),
    ('store_id = "S1"\ndata_dir = "x"\n[mqtt]\npassword_file = "missing"\n', "mqtt.password_file"),
    ('store_id = "S1"\ndata_dir = "x"\n[forwarder]\nbatch_max_events = 0\n', "forwarder.batch_max_events"),
    ('store_id = "S1"\ndata_dir = "x"\n[mqtt]\nurl_typo = "mqtt://h"\n', "mqtt.url_typo"),
])
def test_agent_config_errors_name_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == key
    assert str(path) in str(info.value) and key in str(info.value)


def test_agent_config_defaults_and_relative_paths(tmp_path):
    (tmp_path / "pw").write_text("secret\n")
    cfg = load_agent(write(tmp_path, 'store_id = "S1"\ndata_dir = "data"\n[mqtt]\npassword_file = "pw"\n'))
    assert cfg.data_dir == str(tmp_path / "data")
    assert cfg.listen == ("127.0.0.1", 8700)
    assert cfg.mqtt_password() == "secret"


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_agent(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_agent(write(tmp_path, "store_id = \n"))


def test_hub_config_requires_a_password_for_an_external_broker(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_hub(write(tmp_path, 'data_dir = "d"\n[broker]\nembedded = false\n'))
    assert info.value.key == "broker.password_file"
