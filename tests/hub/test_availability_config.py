"""[locations], [availability] and [channels] in the hub's config: defaults, channel tokens read
from files, stores that need no declaring, and errors that name the file and the key."""

import pytest

from hub.config import load_config
from runtime.config import ConfigError

BASE = 'data_dir = "d"\n[locations.S001]\nkind = "store"\n[locations.DC1]\nkind = "warehouse"\n'


def write(tmp_path, text):
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def secret(tmp_path, name, text):
    (tmp_path / name).write_text(text + "\n")
    (tmp_path / name).chmod(0o600)


def test_a_channel_with_its_defaults_and_its_token(tmp_path):
    secret(tmp_path, "web-token", "web-token-0123456789")
    cfg = load_config(write(tmp_path, BASE + '[channels.web]\nlocations = ["S001", "DC1"]\n'
                                             'token_file = "web-token"\n'))
    web = cfg.channels["web"]
    assert (web.buffer, web.stale_after_s, web.allocation) == (0, 300.0, "most_available")
    assert web.token_file == str(tmp_path / "web-token")
    assert cfg.channel_tokens() == {"web": "web-token-0123456789"}
    assert cfg.availability.default_safety_stock == 0
    assert cfg.availability.reservation_ttl_s == 900
    assert cfg.availability.feed_keep_days == 7
    assert cfg.locations["DC1"].kind == "warehouse"


def test_an_id_no_entry_declares_is_a_store(tmp_path):
    cfg = load_config(write(tmp_path, BASE + '[channels.web]\nlocations = ["S001", "S002", '
                                             '"DC1"]\n'))
    assert [cfg.location_kind(x) for x in cfg.channels["web"].locations] == [
        "store", "store", "warehouse"]
    assert cfg.known_locations() == {"S001", "S002", "DC1"}


@pytest.mark.parametrize("text, key", [
    ('[channels.web]\nlocations = ["S001", "S001"]\n', "channels.web.locations[1]"),
    ('[channels.web]\nlocations = []\n', "channels.web.locations"),
    ('[channels.web]\nlocations = ["S001"]\nallocation = "random"\n', "channels.web.allocation"),
    ('[channels.web]\nlocations = ["S001"]\nbuffer = -1\n', "channels.web.buffer"),
    ('[channels.web]\nlocations = ["S001"]\nstale_after_s = 0\n', "channels.web.stale_after_s"),
    ('[channels.web]\nlocations = ["S001"]\ntoken_file = "absent"\n', "channels.web.token_file"),
    ('[channels.web]\nlocations = ["S001"]\nwebhook_url = "ftp://shop"\n',
     "channels.web.webhook_url"),
    ('[channels.web]\nlocations = ["S001"]\nwebhook_url = "https://shop/feed"\n'
     'webhook_token_file = "absent"\n', "channels.web.webhook_token_file"),
    ('[channels.web]\nlocations = ["S001"]\nwebhook_token_file = "absent"\n',
     "channels.web.webhook_token_file"),
    ('[availability]\ndefault_safety_stock = -2\n', "availability.default_safety_stock"),
    ('[availability]\nreservation_ttl_s = 0\n', "availability.reservation_ttl_s"),
    ('[availability]\nfeed_keep_days = 0\n', "availability.feed_keep_days"),
    ('[locations.DC3]\nkind = "shop"\n', "locations.DC3.kind"),
    ('[locations.DC3]\nkind = "dc"\nname = "x"\n', "locations.DC3.name"),
])
def test_errors_name_the_file_and_the_key(tmp_path, text, key):
    path = write(tmp_path, BASE + text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key, info.value
    assert str(path) in str(info.value)


def test_a_channel_token_is_its_own(tmp_path):
    secret(tmp_path, "admin", "admin-token-0123456789")
    secret(tmp_path, "a", "shared-token-0123456789")
    secret(tmp_path, "b", "shared-token-0123456789")
    channels = ('[channels.web]\nlocations = ["DC1"]\ntoken_file = "a"\n'
                '[channels.shop]\nlocations = ["DC1"]\ntoken_file = "b"\n')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BASE + channels))
    assert info.value.key == "channels.shop.token_file"
    api = '[api]\nadmin_token_file = "admin"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BASE + api + '[channels.web]\nlocations = ["DC1"]\n'
                                                 'token_file = "admin"\n'))
    assert info.value.key == "channels.web.token_file"
