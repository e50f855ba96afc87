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


def test_secrets_are_scrubbed_from_log_lines_and_tracebacks(capsys, monkeypatch):
    import logging

    from runtime import logs, secrets

    monkeypatch.setattr(secrets, "_known", set())  # only this test's secret
    secrets.remember("s3cr3t-token-value")
    logs.setup("DEBUG")
    log = logging.getLogger("test.secrets")
    log.info("CONNECT(username=S001, password=hunter2hunter2)")
    log.info("sent Authorization: Bearer abc.def.ghi")
    try:
        raise RuntimeError("ERP said: bad token s3cr3t-token-value")
    except RuntimeError:
        log.exception("call failed")
    err = capsys.readouterr().err
    assert "hunter2hunter2" not in err and "abc.def.ghi" not in err
    assert "s3cr3t-token-value" not in err and err.count("[secret]") == 4


def test_words_are_not_secrets_only_credential_shaped_values_are(monkeypatch):
    """A secret file holding a common word must not make that word vanish everywhere, and the
    agent's own 401 message ("wrong bearer token") is prose, not a credential."""
    from runtime import secrets

    monkeypatch.setattr(secrets, "_known", set())
    for weak in ("token", "retail", "password", "aaaaaaaaaa"):
        secrets.remember(weak)
    secrets.remember("k9Qx-2mB7vLp")
    text = "missing or wrong bearer token; retail password aaaaaaaaaa"
    assert secrets.scrub(text) == text
    assert secrets.scrub("sent k9Qx-2mB7vLp") == "sent [secret]"
    assert secrets.scrub("(Authorization: Bearer ...)") == "(Authorization: Bearer ...)"
    assert secrets.scrub("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic [secret]"
    assert secrets.scrub("header bearer abc.def.ghi") == "header bearer [secret]"
