"""README's first hospital, as written, over real SSH against a fresh host (issue 16).

The inventory is read from README.md's `first-hospital` blocks; only the example
addresses are replaced by the scenario's containers'. The README's commands then run in
their order: validate, --check --diff on the fresh host, the first run, a rerun.
"""

import json
import os
import pathlib
import re
import socket
import subprocess

import pytest
import testinfra

PROJECT = pathlib.Path(__file__).resolve().parents[3]
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
ADDRESSES = {"10.20.0.10": "172.28.80.10", "10.20.0.11": "172.28.80.11"}
VAULT_PASSWORD = "pp-minimum-test-only"
ADMIN_PASSWORD = "pp-min-4c1e9a7f-admin"  # what the test types into `ansible-vault create`
HOSPITAL = "first-hospital"
PACS = "pacs1"


def readme_blocks():
    """The README's first-hospital blocks: {label: text}, in README order."""
    text = (PROJECT / "README.md").read_text()
    found = re.findall(r"<!-- first-hospital: (.+?) -->\n```[a-z]*\n(.*?)```", text, re.S)
    return {label.strip(): body for label, body in found}


def commands():
    """The README's commands, each a list of words, in order."""
    return [line.split() for line in readme_blocks()["commands"].splitlines() if line.strip()]


def substitute(text):
    """The README text with its example addresses replaced by the scenario's."""
    for example, real in ADDRESSES.items():
        text = text.replace(example, real)
    return text


def env():
    """The environment a user has at the repository's root, plus the controller's key."""
    values = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    values.update(PATH="%s:%s" % (PROJECT / ".venv" / "bin", os.environ["PATH"]),
                  ANSIBLE_PRIVATE_KEY_FILE=str(EPHEMERAL / "ssh_key"),
                  ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
    return values


def run(words, workdir, answer=None, timeout=900):
    """One README command from workdir; answer is typed at its password prompts."""
    words = [str(workdir / w) if w.startswith("inventories/") else w for w in words]
    if words[0] == "make":  # make validate INVENTORIES=...: what the target runs, on the test's folder
        settings = dict(w.split("=", 1) for w in words if "=" in w)
        words = [str(PROJECT / ".venv" / "bin" / "python"), str(PROJECT / "scripts" / "validate.py"),
                 *settings.get("VALIDATE_ARGS", "").split(), str(workdir / settings["INVENTORIES"])]
    # No controlling terminal: the password prompts read standard input, as getpass does then.
    result = subprocess.run(words, cwd=PROJECT, env=env(), input=answer, capture_output=True, text=True,
                            timeout=timeout, check=False, start_new_session=True)
    return result.returncode, result.stdout + result.stderr


def recap(output, host=PACS):
    match = re.search(r"^%s\s*:\s*(.*)$" % re.escape(host), output.split("PLAY RECAP")[-1], re.M)
    assert match, output[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def docker_host(name):
    return testinfra.get_host("docker://" + name)


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    """Writes the README's files, then runs the README's commands in order.

    Returns {step: (returncode, output)} and what the fresh host looked like after --check.
    """
    workdir = tmp_path_factory.mktemp("readme")
    folder = workdir / "inventories" / HOSPITAL
    blocks = readme_blocks()
    for label, body in blocks.items():
        if label.endswith(".yml"):
            path = folder / label
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(substitute(body))
    vault_file = folder / "group_vars" / "orthanc" / "vault.yml"
    steps = {}
    for words in commands():
        if words[:2] == ["ansible-vault", "create"]:
            # `create` opens an editor; the test writes the README's shape with its own password.
            vault_file.write_text('vault_orthanc_admin_password: "%s"\n' % ADMIN_PASSWORD)
            password_file = workdir / "vault-pass"
            password_file.write_text(VAULT_PASSWORD)
            steps["vault"] = run(["ansible-vault", "encrypt", "--vault-password-file", str(password_file),
                                  str(vault_file)], workdir)
        elif words[0] == "make":
            steps["validate"] = run(words, workdir, answer=VAULT_PASSWORD + "\n")
        elif "--check" in words:
            steps["check"] = run(words, workdir, answer=VAULT_PASSWORD + "\n")
            steps["after_check"] = docker_host("pp-min-pacs").run("dpkg-query -W orthanc").rc
        else:
            steps["first"] = run(words, workdir, answer=VAULT_PASSWORD + "\n")
            steps["rerun"] = run(words, workdir, answer=VAULT_PASSWORD + "\n")
    for step, result in steps.items():  # kept with the test's files for a reader of a failure
        if isinstance(result, tuple):
            (workdir / ("%s.log" % step)).write_text(result[1])
    print("README runs and their output: %s" % workdir)
    return {"steps": steps, "folder": folder, "blocks": blocks}


def test_readme_has_the_three_files_and_the_commands():
    blocks = readme_blocks()
    assert set(blocks) >= {"hosts.yml", "group_vars/orthanc/main.yml", "commands"}
    assert any(k.startswith("group_vars/orthanc/vault.yml") for k in blocks)
    assert [w[:2] for w in commands()][0] == ["ansible-vault", "create"]


def test_only_the_example_addresses_were_replaced(hospital):
    for label, body in hospital["blocks"].items():
        if label.endswith(".yml"):
            written = (hospital["folder"] / label).read_text()
            back = written
            for example, real in ADDRESSES.items():
                back = back.replace(real, example)
            assert back == body


def test_the_vault_is_encrypted(hospital):
    assert hospital["steps"]["vault"][0] == 0, hospital["steps"]["vault"][1]
    text = (hospital["folder"] / "group_vars" / "orthanc" / "vault.yml").read_text()
    assert text.startswith("$ANSIBLE_VAULT") and ADMIN_PASSWORD not in text


def test_validate_passes(hospital):
    rc, output = hospital["steps"]["validate"]
    assert rc == 0, output
    assert "in 0 of 1 inventories" in output, output


def test_check_on_the_fresh_host_succeeds_and_changes_nothing(hospital):
    rc, output = hospital["steps"]["check"]
    assert rc == 0, output[-4000:]
    assert recap(output)["failed"] == 0
    assert hospital["steps"]["after_check"] != 0, "--check installed Orthanc"


def test_first_run_succeeds_over_ssh(hospital):
    rc, output = hospital["steps"]["first"]
    assert rc == 0, output[-6000:]
    assert recap(output)["changed"] > 0
    assert ADMIN_PASSWORD not in output


def test_first_run_says_once_who_may_use_the_http_port(hospital):
    _rc, output = hospital["steps"]["first"]
    text = " ".join(output.split())  # the callback folds long messages
    notices = re.findall(r"the HTTP port 8042 is open to (the controller only \([0-9.]+\)|nobody)", text)
    assert notices == ["the controller only (172.28.80.1)"], notices
    assert "list the networks of its users in pacs_firewall_http_cidrs to open it to them" in text


def test_rerun_changes_nothing(hospital):
    rc, output = hospital["steps"]["rerun"]
    assert rc == 0, output[-4000:]
    assert recap(output)["changed"] == 0, output[-4000:]


def report():
    paths = [p for p in (PROJECT / "reports", PROJECT / "playbooks" / "reports")
             if (p / HOSPITAL / "latest" / ("%s.json" % PACS)).exists()]
    assert len(paths) == 1, paths
    return json.loads((paths[0] / HOSPITAL / "latest" / ("%s.json" % PACS)).read_text())


def test_smoke_report_is_green(hospital):
    assert hospital["steps"]["first"][0] == 0
    results = report()["results"]
    statuses = {(r["link"], r["check"]): r["status"] for r in results}
    assert statuses[("CT_ROOM1", "echo_in")] == "pass"
    assert statuses[("CT_ROOM1", "echo_out")] == "pass"
    assert statuses[("DICOMweb", "wado")] == "pass"
    assert [r for r in results if r["status"] == "fail"] == []


def test_the_pacs_runs_the_debian_release_asked_for_and_its_orthanc(hospital):
    """make test runs this scenario on Debian 12 and again on Debian 13 (MINIMUM_PACS_IMAGE)."""
    release = "13" if "debian13" in os.environ.get("MINIMUM_PACS_IMAGE", "") else "12"
    pacs = docker_host("pp-min-pacs")
    assert pacs.file("/etc/debian_version").content_string.startswith(release)
    version = pacs.check_output("dpkg-query -W -f '${Version}' orthanc")
    assert version.startswith({"12": "1.10.1", "13": "1.12.7"}[release]), version


def test_the_ct_stores_into_the_pacs(hospital, tmp_path):
    """A real C-STORE from the CT's host, as CT1, through the firewall."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    assert hospital["steps"]["first"][0] == 0
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "PPMIN-CT1"
    ds.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    subprocess.run(["docker", "cp", str(tmp_path / "ct.dcm"), "pp-min-modality:/var/tmp/pp-min-ct.dcm"],
                   check=True, capture_output=True, timeout=30)
    store = docker_host("pp-min-modality").run("storescu -aet CT1 -aec GH_PACS 172.28.80.10 4242 /var/tmp/pp-min-ct.dcm")
    assert store.rc == 0, store.stdout + store.stderr


def _tcp_from(host, port):
    probe = ("import socket; s = socket.socket(); s.settimeout(3); "
             "print(s.connect_ex(('172.28.80.10', %d)))" % port)
    return docker_host(host).run("python3 -c \"%s\"" % probe).stdout.strip()


@pytest.mark.parametrize("port", [4242, 8042, 22])
def test_a_host_listed_nowhere_is_refused(hospital, port):
    assert hospital["steps"]["first"][0] == 0
    assert _tcp_from("pp-min-blocked", port) != "0"


def test_the_controller_reaches_dicom_and_http(hospital):
    assert hospital["steps"]["first"][0] == 0
    for port in (4242, 8042):
        with socket.create_connection(("172.28.80.10", port), timeout=3):
            pass


def test_zz_a_dropped_probe_is_explained_by_the_firewall_variable(hospital):
    """Issue 16: when the host firewall drops the smoke probe, the failure says which variable
    lets it in. The controller keeps SSH (and HTTP) through pacs_firewall_admin_cidrs, but the
    management path is off, so the DICOM port is open to CT1 only: the probe's C-ECHO gets
    no answer. A plain rerun then puts the README's firewall back (this test runs last)."""
    assert hospital["steps"]["first"][0] == 0
    words = next(w for w in commands() if w[0] == "ansible-playbook" and "--check" not in w)
    workdir = hospital["folder"].parent.parent
    extra = ["-e", json.dumps({"pacs_firewall_keep_management_path": False,
                               "pacs_firewall_admin_cidrs": ["172.28.80.1/32"]})]
    try:
        rc, output = run(words + extra, workdir, answer=VAULT_PASSWORD + "\n")
        text = " ".join(output.split())
        assert rc != 0, output[-4000:]
        hint = ("the host firewall drops it: the probe's address 172.28.80.1 is not among the DICOM sources; "
                "add it to pacs_firewall_dicom_cidrs")
        assert hint in text, output[-6000:]
        echo = {(r["link"], r["check"]): r for r in report()["results"]}[("CT_ROOM1", "echo_in")]
        assert echo["status"] == "fail" and hint in " ".join(echo["error"].split()), echo
        assert {(r["link"], r["check"]): r for r in report()["results"]}[("DICOMweb", "wado")]["status"] == "pass"
    finally:
        rc, output = run(words, workdir, answer=VAULT_PASSWORD + "\n")
    assert rc == 0, output[-4000:]
    assert [r for r in report()["results"] if r["status"] == "fail"] == []
