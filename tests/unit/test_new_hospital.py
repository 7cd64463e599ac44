"""scripts/new_hospital.py: a new hospital's inventory from templates/hospital/ (issue 16)."""

import pathlib
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import new_hospital  # noqa: E402

ANSWERS = ["pacs1", "10.20.0.10", "deploy", "GH_PACS", "admin-password-123", "vault-password-456"]


def scaffold(tmp_path, answers=ANSWERS, name="st-marys"):
    """Runs the script as `make new-hospital` does, answering its prompts on standard input."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "new_hospital.py"), name,
                          "--inventories", str(tmp_path)],
                         input="".join(a + "\n" for a in answers), capture_output=True, text=True,
                         timeout=120, check=False, start_new_session=True)
    return run.returncode, run.stdout + run.stderr


def test_scaffold_writes_a_valid_inventory(tmp_path):
    rc, output = scaffold(tmp_path)
    assert rc == 0, output
    folder = tmp_path / "st-marys"
    hosts = yaml.safe_load((folder / "hosts.yml").read_text())
    assert hosts["all"]["children"]["orthanc"]["hosts"]["pacs1"] == {"ansible_host": "10.20.0.10",
                                                                     "ansible_user": "deploy"}
    main = yaml.safe_load((folder / "group_vars" / "orthanc" / "main.yml").read_text())
    assert main["orthanc_dicom_aet"] == "GH_PACS"
    assert main["orthanc_users"] == [{"name": "admin", "password": "{{ vault_orthanc_admin_password }}"}]
    assert "0 problem(s)" in output  # the validation ran at the end


def test_the_vault_is_encrypted_with_the_given_password(tmp_path):
    scaffold(tmp_path)
    path = tmp_path / "st-marys" / "group_vars" / "orthanc" / "vault.yml"
    raw = path.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT") and b"admin-password-123" not in raw
    assert path.stat().st_mode & 0o777 == 0o600
    plain = VaultLib([("default", VaultSecret(b"vault-password-456"))]).decrypt(raw)
    assert yaml.safe_load(plain) == {"vault_orthanc_admin_password": "admin-password-123"}


def test_every_public_variable_is_listed_commented(tmp_path):
    scaffold(tmp_path)
    text = (tmp_path / "st-marys" / "group_vars" / "orthanc" / "main.yml").read_text()
    for role in new_hospital.ROLES:
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for name in spec["argument_specs"]["main"]["options"]:
            assert ("# %s:" % name in text) or ("\n%s:" % name in text), name


def test_answers_with_yaml_syntax_arrive_as_typed(tmp_path):
    answers = list(ANSWERS)
    answers[3] = "GH#PACS: {x}"
    rc, output = scaffold(tmp_path, answers)
    assert rc == 0, output
    main = yaml.safe_load((tmp_path / "st-marys" / "group_vars" / "orthanc" / "main.yml").read_text())
    assert main["orthanc_dicom_aet"] == "GH#PACS: {x}"


@pytest.mark.parametrize("index, value, named", [
    (1, "10.20.0.10; rm -rf /", "address"),
    (3, "A" * 17, "aet"),
    (3, "GH\\PACS", "aet"),
    (4, "short", "admin password"),
    (0, "pacs 1", "host"),
])
def test_bad_answers_are_refused_by_name_and_nothing_is_written(tmp_path, index, value, named):
    answers = list(ANSWERS)
    answers[index] = value
    rc, output = scaffold(tmp_path, answers)
    assert rc == 2
    assert "new-hospital: %s:" % named in output
    assert not (tmp_path / "st-marys").exists()


def test_an_existing_inventory_is_never_overwritten(tmp_path):
    (tmp_path / "st-marys").mkdir()
    rc, output = scaffold(tmp_path)
    assert rc == 2 and "exists already" in output
    assert list((tmp_path / "st-marys").iterdir()) == []


def test_bad_inventory_name_is_refused(tmp_path):
    rc, output = scaffold(tmp_path, name="St Marys")
    assert rc == 2 and "new-hospital: name:" in output
