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
    (tmp_path / "pw").chmod(0o600)
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


AGENT_TLS = 'store_id = "S1"\ndata_dir = "x"\n[mqtt]\nurl = "mqtts://broker:8883"\n'


@pytest.mark.parametrize("mqtt, key", [
    ('ca_file = "missing.pem"\n', "mqtt.ca_file"),
    ('ca_file = "junk.pem"\n', "mqtt.ca_file"),
    ('cert_file = "junk.pem"\n', "mqtt.key_file"),
    ('cert_file = "junk.pem"\nkey_file = "junk.pem"\n', "mqtt.cert_file"),
])
def test_agent_tls_errors_name_the_key(tmp_path, mqtt, key):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError) as info:
        load_agent(write(tmp_path, AGENT_TLS + mqtt))
    assert info.value.key == key, info.value


def test_a_ca_file_with_a_plain_mqtt_url_is_refused_not_ignored(tmp_path):
    """Otherwise a typo in the scheme would send passwords in clear text."""
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(ConfigError, match="not encrypted") as info:
        load_agent(write(tmp_path, 'store_id = "S1"\ndata_dir = "x"\n[mqtt]\n'
                                   'url = "mqtt://broker:1883"\nca_file = "ca.pem"\n'))
    assert info.value.key == "mqtt.ca_file"


def test_agent_mqtts_defaults_to_port_8883_and_verifies(tmp_path):
    import ssl

    from runtime.config import broker_address

    cfg = load_agent(write(tmp_path, AGENT_TLS.replace(":8883", "")))
    assert broker_address(cfg.mqtt.url, path="", key="").port == 8883
    context = cfg.mqtt_tls()
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize("broker, key", [
    ('tls_listen = "127.0.0.1:8883"\n', "broker.tls_cert_file"),
    ('tls_listen = "nope"\n', "broker.tls_listen"),
    ('tls_listen = "127.0.0.1:8883"\ntls_cert_file = "junk.pem"\ntls_key_file = "junk.pem"\n',
     "broker.tls_cert_file"),
    ('embedded = false\nurl = "mqtts://b:8883"\npassword_file = "pw"\nca_file = "junk.pem"\n',
     "broker.ca_file"),
])
def test_hub_tls_errors_name_the_key(tmp_path, broker, key):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "pw").chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_hub(write(tmp_path, f'data_dir = "d"\n[broker]\n{broker}'))
    assert info.value.key == key, info.value


def secret_file(path, text="k9Qx-2mB7vLp", mode=0o600):
    path.write_text(text + "\n")
    path.chmod(mode)


HUB_MISTAKES = [
    # (name, config text, files to make: name -> (text, mode), key)
    ("missing admin token", 'data_dir = "d"\n[api]\nadmin_token_file = "absent"\n', {},
     "api.admin_token_file"),
    ("world-readable admin token", 'data_dir = "d"\n[api]\nadmin_token_file = "token"\n',
     {"token": ("k9Qx-2mB7vLp", 0o644)}, "api.admin_token_file"),
    ("world-readable ERP token", 'data_dir = "d"\n[erp]\nconnector = "http-json"\n'
     'url = "http://127.0.0.1:9"\ntoken_file = "token"\n', {"token": ("k9Qx-2mB7vLp", 0o604)},
     "erp.token_file"),
    ("malformed users file", 'data_dir = "d"\n[broker]\nusers_file = "users"\n',
     {"users": ("this is not username:hash\nnor this", 0o600)}, "broker.users_file"),
    ("NaN rounding", 'data_dir = "d"\n[postings]\nrounding = {CHF = "NaN"}\n', {},
     "postings.rounding.CHF"),
    ("infinite sweep", 'data_dir = "d"\n[postings]\nsweep_interval_s = inf\n', {},
     "postings.sweep_interval_s"),
    ("data_dir is a file", 'data_dir = "afile"\n', {"afile": ("x", 0o600)}, "data_dir"),
    ("empty data_dir", 'data_dir = ""\n', {}, "data_dir"),
    ("no held events", 'data_dir = "d"\n[ingest]\nmax_held_events = 0\n', {},
     "ingest.max_held_events"),
]
AGENT_MISTAKES = [
    ("infinite ack timeout", 'store_id = "S1"\ndata_dir = "d"\n[forwarder]\nack_timeout_s = inf\n',
     {}, "forwarder.ack_timeout_s"),
    ("NaN skew", 'store_id = "S1"\ndata_dir = "d"\n[api]\nmax_clock_skew_s = nan\n', {},
     "api.max_clock_skew_s"),
    ("empty data_dir", 'store_id = "S1"\ndata_dir = ""\n', {}, "data_dir"),
    ("data_dir is a file", 'store_id = "S1"\ndata_dir = "afile"\n', {"afile": ("x", 0o600)},
     "data_dir"),
    ("world-readable password", 'store_id = "S1"\ndata_dir = "d"\n[mqtt]\npassword_file = "pw"\n',
     {"pw": ("k9Qx-2mB7vLp", 0o644)}, "mqtt.password_file"),
    ("world-readable till token", 'store_id = "S1"\ndata_dir = "d"\n[api]\ntoken_file = "t"\n',
     {"t": ("k9Qx-2mB7vLp", 0o644)}, "api.token_file"),
]


@pytest.mark.parametrize("program, name, text, files, key",
                         [("hub", *m) for m in HUB_MISTAKES] + [("edge_agent", *m) for m in AGENT_MISTAKES],
                         ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_check_config_and_run_refuse_the_same_mistakes_naming_key_and_file(
        tmp_path, program, name, text, files, key):
    """check-config must find what run would trip over: both exit 2 with one line naming the key
    and the file, never a traceback (and run starts nothing)."""
    import subprocess
    import sys
    from pathlib import Path

    for file, (content, mode) in files.items():
        secret_file(tmp_path / file, content, mode)
    conf = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        (load_hub if program == "hub" else load_agent)(conf)
    assert info.value.key == key, info.value
    for command in ("check-config", "run"):
        done = subprocess.run([sys.executable, "-m", program, command, "--config", str(conf)],
                              capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 2, (command, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert f"{conf}: {key}:" in done.stderr, done.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("at", ["", "06:00", "23:59"])
def test_hub_reconcile_at_takes_a_time_or_empty_for_never(tmp_path, at):
    """docs/configuration.md: `reconcile.at = ""` turns the scheduled check off."""
    assert load_hub(write(tmp_path, f'data_dir = "x"\n[reconcile]\nat = "{at}"\n')).reconcile.at == at


def test_hub_reconcile_at_refuses_a_time_that_is_not_one(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_hub(write(tmp_path, 'data_dir = "x"\n[reconcile]\nat = "24:00"\n'))
    assert "reconcile.at" in str(info.value)
