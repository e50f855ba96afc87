import logging

from runtime import logs


def test_timestamps_only_outside_journald(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    logs.setup("INFO")
    assert "%(asctime)s" in logging.getLogger().handlers[0].formatter._fmt
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    logs.setup("INFO")
    assert "%(asctime)s" not in logging.getLogger().handlers[0].formatter._fmt
    logging.getLogger().handlers[:] = []
