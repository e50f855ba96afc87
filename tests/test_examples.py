"""The shipped example configs are valid, and check-config says so (docs and code agree)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT)


def test_example_hub_config_checks_out():
    done = run("hub", "check-config", "--config", "packaging/retail-hub.toml")
    assert done.returncode == 0, done.stderr
    assert 'listen = "127.0.0.1:8800"' in done.stdout


def test_example_agent_config_is_valid_but_for_its_secret_file(tmp_path):
    text = (ROOT / "packaging/edge-agent.toml").read_text()
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "pw").chmod(0o600)
    (tmp_path / "agent.toml").write_text(text.replace("/etc/edge-agent/mqtt-password", "pw"))
    done = run("edge_agent", "check-config", "--config", str(tmp_path / "agent.toml"))
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout
    bad = run("edge_agent", "check-config", "--config", "packaging/edge-agent.toml")
    assert bad.returncode == 2
    assert "mqtt.password_file" in bad.stderr and "edge-agent.toml" in bad.stderr


def test_versions():
    for module in ("hub", "edge_agent"):
        done = run(module, "--version")
        assert done.returncode == 0 and "0.1.0" in done.stdout


def test_the_example_hub_broker_listens_where_the_docs_and_the_code_say():
    """The example said 0.0.0.0:1883, configuration.md and the code 127.0.0.1:1883."""
    import tomllib

    from hub.config import BrokerConfig

    example = tomllib.loads((ROOT / "packaging/retail-hub.toml").read_text())["broker"]["listen"]
    assert example == BrokerConfig().listen
    assert f"| `broker.listen` | `{example}` |" in (ROOT / "docs/configuration.md").read_text()
