"""Every bad inventory makes a real `ansible-playbook site.yml` run against a converged
host fail in preflight, before any task touches the host.

One systemd container (pp-val-pacs) gets Orthanc once from the base inventory; then each
case runs site.yml against it with the case's inventory and we check: non-zero exit, the
expected message, no task of a later play started, nothing reported changed, and the host
unchanged (checksums and listing of /etc/orthanc, Orthanc's PID and start time).
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

import corpus

pytestmark = pytest.mark.docker

NETWORK = "pp-val-net"
CONTAINER = corpus.CONVERGED_HOST
IMAGE = "local/debian12-systemd:latest"
# PP_VAL_SITE_PLAYBOOK: try a patched copy of site.yml (with absolute import paths) before it lands.
PLAYBOOK = pathlib.Path(os.environ.get("PP_VAL_SITE_PLAYBOOK", corpus.ROOT / "site.yml"))
VAULT = corpus.BASE / ".vault-password-test-only"
SYSTEMD = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
           "--security-opt", "apparmor=unconfined", "--tmpfs", "/run", "--tmpfs", "/run/lock",
           "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host"]
HOST_CASES = [p for p in corpus.CASES if corpus.load_case(p)["scope"] == "host"]
HOSPITAL_CASES = [p for p in corpus.CASES if corpus.load_case(p)["scope"] == "hospital"]


def _docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


def _playbook(inventory, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(corpus.ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(corpus.ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                           "--vault-password-file", str(VAULT), "--limit", CONTAINER, str(PLAYBOOK), *extra],
                          capture_output=True, text=True, cwd=corpus.ROOT, env=env, check=False, timeout=900)


def _snapshot():
    """What a run could change: config files, their listing, Orthanc's process and start time."""
    script = ("cd /etc/orthanc && sha256sum $(find . -type f | sort) && ls -lan --time-style=full-iso -R . && "
              "systemctl show orthanc -p MainPID -p ActiveEnterTimestampMonotonic -p NRestarts")
    return _docker("exec", CONTAINER, "sh", "-c", script).stdout


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    for args in (("rm", "-f", CONTAINER), ("network", "rm", NETWORK)):
        _docker(*args, check=False)
    try:
        _docker("network", "create", "--subnet", "172.28.60.0/24", NETWORK)
        _docker("run", "-d", "--name", CONTAINER, "--hostname", CONTAINER, "--network", NETWORK,
                "--ip", "172.28.60.10", *SYSTEMD, IMAGE, "/lib/systemd/systemd")
        inventory = corpus.build_inventory({"host_vars": {}}, tmp_path_factory.mktemp("base") / "inventory")
        run = _playbook(inventory, "--tags", "orthanc")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "MainPID=0" not in _snapshot()
        yield
    finally:
        _docker("rm", "-f", CONTAINER, check=False)
        _docker("network", "rm", NETWORK, check=False)


def _assert_refused_before_any_change(path, tmp_path):
    case = corpus.load_case(path)
    before = _snapshot()
    run = _playbook(corpus.build_inventory(case, tmp_path / "inventory"))
    output = run.stdout + run.stderr
    assert run.returncode != 0, "%s: site.yml accepted %s\n%s" % (path.name, case["description"], output[-3000:])
    problems = [corpus.normalise(fragment.split(" ", 1)[1].split(": ", 1)[1]) for fragment in case["expect"]]
    assert any(p in corpus.normalise(output) for p in problems), \
        "%s: none of %r in\n%s" % (path.name, case["expect"], output[-3000:])
    assert "PLAY [Install, configure and run Orthanc]" not in output, output[-3000:]
    assert "changed: [" not in output
    assert "changed=0" in output and "failed=1" in output
    assert _snapshot() == before


@pytest.mark.parametrize("path", HOST_CASES, ids=[p.stem for p in HOST_CASES])
def test_site_refuses_bad_inventory_before_any_change(converged, path, tmp_path):
    _assert_refused_before_any_change(path, tmp_path)


@pytest.mark.parametrize("path", HOSPITAL_CASES, ids=[p.stem for p in HOSPITAL_CASES])
def test_site_refuses_cross_host_problem_before_any_change(converged, path, tmp_path):
    _assert_refused_before_any_change(path, tmp_path)
