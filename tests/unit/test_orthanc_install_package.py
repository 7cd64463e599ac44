"""The apt task of roles/orthanc/tasks/install-package.yml: when it keeps the packages from
starting Orthanc (policy_rc_d 101)."""

import pytest
import yaml
from role_templar import ROOT, orthanc_role_value

OMIT = "__omit_place_holder__"


def install_task_option(name):
    """The template of one option of the task that installs the packages."""
    tasks = yaml.safe_load((ROOT / "roles" / "orthanc" / "tasks" / "install-package.yml").read_text())
    task = next(t for t in tasks if t.get("name") == "Install the Orthanc packages")
    return task["pacs_apt"][name]


@pytest.mark.parametrize(("installed", "check_mode", "expected"), [
    ("", False, 101),        # a first install: the packages may not start Orthanc
    ("", True, OMIT),        # check mode: the module would write the file around its --simulate
    ("1.10.1", False, OMIT),  # an installed Orthanc: an upgrade restarts it as Debian does
    ("1.10.1", True, OMIT),
])
def test_policy_rc_d_only_for_a_real_first_install(installed, check_mode, expected):
    value = orthanc_role_value(install_task_option("policy_rc_d"), omit=OMIT, ansible_check_mode=check_mode,
                               __orthanc_upgrade_apt={"installed": installed})
    assert value == expected
