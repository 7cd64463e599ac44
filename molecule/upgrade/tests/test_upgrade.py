"""Upgrades keep every study (issue 14), on the storage converge filled from Debian 12.

The tests run in file order, each on what the one before left:
  1. converge stored 2 patients, 3 studies, 5 series, 10 instances into Orthanc 1.10.1, on a
     folder that was root's (what Docker creates for a bind mount): the role gave it to orthanc;
  2. playbooks/orthanc.yml refuses to put Debian 13's Orthanc on that storage;
  3. playbooks/upgrade.yml --check --diff reports the upgrade and changes nothing;
  4. playbooks/upgrade.yml moves it to Debian 13's Orthanc 1.12.7: same IDs, same files;
  5. a switch to the container method whose start fails (its port is taken) rolls back:
     the index backup and marker are restored, the storage given back, and the Debian 13
     Orthanc started again serves everything;
  6. the same switch onto a named Docker volume holding a copy of that storage: found in its
     folder on the Docker host, backed up, handed to uid 999, every study there (the shared
     folder untouched);
  7. the switch to the container method (controller's Docker engine, uid 999) for real.
"""

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

SCENARIO = pathlib.Path(__file__).resolve().parent.parent
PROJECT = SCENARIO.parent.parent
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
STORAGE = pathlib.Path("/tmp/pp-upgrade/storage")
MARKER = STORAGE / ".pacs-provisioner-orthanc.json"
USER, PASSWORD = "admin", "pp-upgrade-test-only"
TRIXIE, CONTROLLER = "pp-upgrade-trixie", "pp-upgrade-controller"
TRIXIE_URL, CONTAINER_URL = "http://172.28.100.11:8042", "http://127.0.0.1:18043"
IMAGE = "local/orthancteam-orthanc:26.8.1"
VOLUME = "pp-upgrade-volume"

sys.path.insert(0, str(SCENARIO))
import dicom_studies  # noqa: E402  (the scenario's own tool, beside this folder)


def playbook(name, limit, *extra):
    """ansible-playbook on the scenario's hosts and the controller (extra: more arguments, e.g.
    --check); (rc, output with whitespace folded)."""
    proc = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(EPHEMERAL / "inventory"),
         "-i", str(SCENARIO / "inventory" / "controller.yml"), "--limit", limit, *extra,
         str(PROJECT / "playbooks" / name)],
        cwd=PROJECT, capture_output=True, text=True, timeout=900, check=False,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg")))
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def docker(*args, check=True):
    """docker args; stdout."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def before():
    """What Debian 12's Orthanc held (converge.yml wrote it)."""
    return json.loads((EPHEMERAL / "before.json").read_text())


def wait_for(url):
    """Wait until url's /system answers (Orthanc started outside Ansible)."""
    for _ in range(60):
        try:
            return dicom_studies.get(url + "/system", USER, PASSWORD)
        except OSError:
            subprocess.run(["sleep", "1"], check=True)
    raise AssertionError("%s did not answer" % url)


def owners():
    """The (uid, gid) pairs owning the files under the storage folder."""
    return {(os.stat(os.path.join(d, n)).st_uid, os.stat(os.path.join(d, n)).st_gid)
            for d, _, files in os.walk(STORAGE) for n in files if n != MARKER.name}


@pytest.fixture(scope="module", autouse=True)
def controller_cleanup():
    """The controller's containers go when the tests end (molecule destroys the others)."""
    yield
    for name in ("pp-upgrade-orthanc", "pp-upgrade-squatter"):
        docker("rm", "-f", name, check=False)
    docker("volume", "rm", "-f", VOLUME, check=False)


def disk_state():
    """Every entry under /tmp/pp-upgrade (the storage folder itself too): kind, owner, mode,
    mtime, and each file's sha256.

    Not the mtime of index-shm: converge stopped the Debian 12 host with Orthanc running, so its
    WAL index was not closed cleanly, and every reader of such an index (the role's read-only
    one too) writes SQLite's shared-memory wal-index, which holds no data (its bytes compare).
    """
    state = {}
    for folder, dirs, files in os.walk(STORAGE.parent):
        for path in [folder] + [os.path.join(folder, n) for n in dirs + files]:
            st = os.lstat(path)
            digest = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else ""
            mtime = None if path.endswith("/index-shm") else st.st_mtime_ns
            state[path] = (oct(st.st_mode), st.st_uid, st.st_gid, mtime, digest)
    return state


def trixie(*command):
    """A command on the Debian 13 host; (rc, stdout)."""
    proc = subprocess.run(["docker", "exec", TRIXIE, *command], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout.strip()


def test_debian12_stored_real_studies():
    record = before()
    assert record["counts"] == {"CountPatients": 2, "CountStudies": 3, "CountSeries": 5, "CountInstances": 10}
    assert len(record["instances"]) == 10 and all(v["sha256"] for v in record["instances"].values())
    assert not MARKER.exists()
    # prepare.yml left the folder root's 0755: the role gave the folder itself to Debian 12's
    # orthanc user, who then wrote every file in it.
    folder = STORAGE.stat()
    assert folder.st_uid != 0 and oct(folder.st_mode & 0o7777) == "0o750"
    assert owners() == {(folder.st_uid, folder.st_gid)}


def test_another_orthanc_is_refused_without_the_upgrade_playbook():
    rc, out = playbook("orthanc.yml", TRIXIE)
    assert rc != 0 and "Run playbooks/upgrade.yml" in out, out[-3000:]
    # Refused before anything was installed: Debian 13 has no Orthanc yet.
    assert docker("exec", TRIXIE, "dpkg-query", "-W", "orthanc", check=False) == ""


def test_upgrade_in_check_mode_reports_and_changes_nothing():
    disk = disk_state()
    rc, out = playbook("upgrade.yml", TRIXIE, "--check", "--diff")
    assert rc == 0, out[-4000:]
    # What the real run would do is reported as changes: the backup, Debian's orthanc user.
    for task in (r"Upgrade - back up the index \(refused when space lacks\)", "Upgrade - create Debian's orthanc user"):
        assert re.search(r"TASK \[orthanc : %s[^\]]*\][^\[]*changed: \[%s\]" % (task, TRIXIE), out), (task, out[-4000:])
    # Nothing changed on the shared storage or beside it: index bytes and mtime, no marker,
    # no backup folder, the same owners and modes.
    assert disk_state() == disk
    assert not MARKER.exists()
    assert trixie("sh", "-c", "ls -d /var/lib/orthanc/orthanc-index-*") == (2, "")
    # Nothing installed, created or started on the Debian 13 host.
    assert "install ok installed" not in trixie("dpkg-query", "-W", "-f=${Status}", "orthanc")[1]
    assert trixie("getent", "passwd", "orthanc")[0] != 0
    assert trixie("test", "-e", "/etc/orthanc")[0] != 0
    assert trixie("systemctl", "is-active", "orthanc")[1] != "active"


def test_debian13_keeps_every_study_and_file():
    rc, out = playbook("upgrade.yml", TRIXIE)
    assert rc == 0, out[-4000:]
    assert "as before the switch" in out
    assert wait_for(TRIXIE_URL)["Version"] == "1.12.7"
    assert dicom_studies.snapshot(TRIXIE_URL, USER, PASSWORD, str(STORAGE)) == before()
    assert json.loads(MARKER.read_text()) == {"method": "package", "version": "1.12.7", "image": ""}
    backups = docker("exec", TRIXIE, "sh", "-c", "ls -d /var/lib/orthanc/orthanc-index-*/index").split()
    assert len(backups) == 1, backups


def test_failed_switch_to_the_container_rolls_back():
    trixie_owner = owners()
    assert len(trixie_owner) == 1
    docker("exec", TRIXIE, "systemctl", "stop", "orthanc")
    # Something else holds the container's HTTP port: the new Orthanc cannot start.
    docker("run", "-d", "--name", "pp-upgrade-squatter", "-p", "127.0.0.1:18043:8042",
           "--entrypoint", "sleep", IMAGE, "infinity")
    try:
        rc, out = playbook("upgrade.yml", CONTROLLER)
    finally:
        docker("rm", "-f", "pp-upgrade-squatter")
    assert rc != 0, out[-4000:]
    assert "the index was restored from /tmp/pp-upgrade/backups/orthanc-index-package-1.12.7-" in out, out[-4000:]
    backup = sorted(pathlib.Path("/tmp/pp-upgrade/backups").glob("orthanc-index-package-1.12.7-*"))[-1]
    assert hashlib.sha256((STORAGE / "index").read_bytes()).digest() == \
        hashlib.sha256((backup / "index").read_bytes()).digest()
    assert json.loads(MARKER.read_text())["method"] == "package"
    assert owners() == trixie_owner
    assert docker("ps", "-q", "-f", "name=^pp-upgrade-orthanc$") == ""
    # The old Orthanc on its host serves everything again.
    docker("exec", TRIXIE, "systemctl", "start", "orthanc")
    assert wait_for(TRIXIE_URL)["Version"] == "1.12.7"
    assert dicom_studies.snapshot(TRIXIE_URL, USER, PASSWORD, str(STORAGE)) == before()


def test_switch_onto_a_named_volume_finds_it_and_keeps_every_study():
    docker("exec", TRIXIE, "systemctl", "stop", "orthanc")
    docker("volume", "create", VOLUME)
    folder = pathlib.Path(docker("volume", "inspect", "-f", "{{.Mountpoint}}", VOLUME))
    # The Debian 13 host's storage as it is, owners and the package's marker too.
    subprocess.run(["cp", "-a", "%s/." % STORAGE, str(folder)], check=True)
    shared = {k: v for k, v in disk_state().items() if k.startswith(str(STORAGE))}
    backups = set(pathlib.Path("/tmp/pp-upgrade/backups").glob("orthanc-index-*"))
    try:
        rc, out = playbook("upgrade.yml", CONTROLLER, "-e", "orthanc_container_storage=" + VOLUME)
        assert rc == 0, out[-4000:]
        assert "as before the switch" in out
        mounts = json.loads(docker("inspect", "-f", "{{json .Mounts}}", "pp-upgrade-orthanc"))
        assert [m["Name"] for m in mounts if m["Type"] == "volume"] == [VOLUME]
        system = wait_for(CONTAINER_URL)
        assert dicom_studies.snapshot(CONTAINER_URL, USER, PASSWORD, str(folder)) == before()
        assert json.loads((folder / MARKER.name).read_text()) == \
            {"method": "container", "version": system["Version"], "image": IMAGE}
        assert {(os.stat(os.path.join(d, n)).st_uid, os.stat(os.path.join(d, n)).st_gid)
                for d, _, files in os.walk(folder) for n in files if n != MARKER.name} == {(999, 999)}
        new = set(pathlib.Path("/tmp/pp-upgrade/backups").glob("orthanc-index-*")) - backups
        assert len(new) == 1 and next(iter(new)).name.startswith("orthanc-index-package-1.12.7-"), new
        assert (next(iter(new)) / "index").is_file()
        # The shared folder the Debian hosts mount is as it was: the volume was upgraded.
        assert {k: v for k, v in disk_state().items() if k.startswith(str(STORAGE))} == shared
    finally:
        docker("rm", "-f", "pp-upgrade-orthanc", check=False)
        docker("volume", "rm", "-f", VOLUME, check=False)


def test_switch_to_the_container_keeps_every_study_and_file():
    docker("exec", TRIXIE, "systemctl", "stop", "orthanc")
    rc, out = playbook("upgrade.yml", CONTROLLER)
    assert rc == 0, out[-4000:]
    assert "as before the switch" in out
    assert docker("inspect", "-f", "{{.Config.User}}", "pp-upgrade-orthanc") == "999:999"
    assert owners() == {(999, 999)}
    system = wait_for(CONTAINER_URL)
    assert dicom_studies.snapshot(CONTAINER_URL, USER, PASSWORD, str(STORAGE)) == before()
    assert json.loads(MARKER.read_text()) == {"method": "container", "version": system["Version"], "image": IMAGE}
