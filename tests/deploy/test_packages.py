"""Build the .deb packages, inspect them, and run the agent from a throwaway root."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is not installed"),
    # Building (two isolated build environments, then pip for the packages' lib) takes minutes
    # on a busy machine; the first test's share of the module fixture is that long.
    pytest.mark.timeout(600),
]


def build_deb(out: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "packaging/build-deb")], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                                          "PYTHON": python, "OUT": str(out),
                                          "HOME": str(out)}, timeout=600)


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    before = {p.name for p in ROOT.iterdir()}
    done = build_deb(out, sys.executable)
    assert done.returncode == 0, done.stderr[-3000:]
    # Nothing left in the repository (a build/ folder there once hid the `build` module).
    assert {p.name for p in ROOT.iterdir()} - before <= {"store_edge_sync.egg-info"}
    return {p.name.split("_")[0]: p for p in out.glob("*.deb")} | {
        "wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("pkg, conf", [("edge-agent", "agent.toml"), ("retail-hub", "hub.toml")])
def test_package_contents_control_and_scripts(debs, tmp_path, pkg, conf):
    deb = debs[pkg]
    assert field(deb, "Package") == pkg
    assert field(deb, "Version") == "0.1.0"
    assert "python3 (>= 3.11)" in field(deb, "Depends")
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for path in (f"./usr/bin/{pkg}", f"./lib/systemd/system/{pkg}.service", f"./etc/{pkg}/{conf}",
                 f"./opt/{pkg}/lib/msgspec/", f"./usr/share/doc/{pkg}/operations.md"):
        assert path in listing, path
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    assert (control / "conffiles").read_text().strip() == f"/etc/{pkg}/{conf}"
    for script in ("postinst", "prerm", "postrm"):
        (control / script).read_text()
        assert subprocess.run(["sh", "-n", str(control / script)]).returncode == 0
    postinst = (control / "postinst").read_text()
    assert "adduser --system" in postinst and "deb-systemd-helper enable" in postinst
    assert "systemctl start" not in postinst.replace("then systemctl start", "")
    assert f"rm -rf /var/lib/{pkg}" in (control / "postrm").read_text()
    assert '"$1" = purge' in (control / "postrm").read_text()


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system python3")
def test_agent_runs_from_a_throwaway_root(debs, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs["edge-agent"]), str(root)], check=True)
    binary = root / "usr/bin/edge-agent"
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env={})
    assert done.returncode == 0 and "edge-agent 0.1.0" in done.stdout, done.stderr
    conf = root / "etc/edge-agent/agent.toml"
    (tmp_path / "pw").write_text("secret\n")
    (tmp_path / "pw").chmod(0o600)
    conf.write_text(conf.read_text().replace("/etc/edge-agent/mqtt-password", str(tmp_path / "pw")))
    done = subprocess.run([str(binary), "check-config", "--config", str(conf)],
                          capture_output=True, text=True, env={})
    assert done.returncode == 0, done.stderr
    assert 'store_id = "S001"' in done.stdout


def test_wheel_and_sdist_are_built(debs):
    assert debs["wheel"].stat().st_size > 10_000
    assert debs["sdist"].stat().st_size > 10_000


def test_a_python_without_the_build_module_is_told_to_use_make_deb(tmp_path):
    bare = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    done = build_deb(tmp_path / "dist", str(bare / "bin/python"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "has no 'build' module" in done.stderr and "make deb" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "dist").exists()
