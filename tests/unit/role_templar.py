"""The orthanc role's defaults and vars/main.yml templated as the role templates them, for unit tests."""

import pathlib

import filter_plugins_loader  # noqa: F401  pylint: disable=unused-import  (the project's filters)
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from pacs_model import DEFAULTS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def trusted(value):
    """A YAML value as Ansible reads a role's files: its strings may be templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def orthanc_role_templar(**inventory):
    """A Templar over the orthanc role's defaults and vars/main.yml, with the inventory's values."""
    role_vars = yaml.safe_load((ROOT / "roles" / "orthanc" / "vars" / "main.yml").read_text())
    variables = {**DEFAULTS, "orthanc_dependent_modalities": [], "xnat_dqr_servers": [],
                 "ansible_check_mode": False, "orthanc_index_dir": "/var/lib/orthanc/db",
                 **trusted(role_vars), **inventory}
    return Templar(loader=DataLoader(), variables=variables)


def orthanc_role_value(expression, **inventory):
    """What the expression (a template string) is in the orthanc role for that inventory."""
    return orthanc_role_templar(**inventory).template(trust_as_template(expression))
