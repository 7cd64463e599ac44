"""Where the container method publishes Orthanc's ports (roles/orthanc/vars/main.yml,
__orthanc_container_http_bind): Docker's published ports bypass the host firewall's input
chain, so with the HTTPS front door on the HTTP port must be published on loopback only."""

import pathlib

import filter_plugins_loader  # noqa: F401  pylint: disable=unused-import
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from pacs_model import pacs_host_model
from role_templar import trusted

ROOT = pathlib.Path(__file__).resolve().parents[2]
VARS = yaml.safe_load((ROOT / "roles" / "orthanc" / "vars" / "main.yml").read_text())
TASK = yaml.safe_load((ROOT / "roles" / "orthanc" / "tasks" / "service-container.yml").read_text())[0]


def _published(host, bind_address=""):
    """The published_ports of the container task, rendered for a host's variables."""
    variables = {**trusted(VARS),
                 "__pacs_model": pacs_host_model(host), "orthanc_container_bind_address": bind_address,
                 "orthanc_dicom_port": 4242, "orthanc_http_port": 8042}
    task = TASK["community.docker.docker_container"]
    variables.update(trusted(TASK.get("vars", {})))
    templar = Templar(loader=DataLoader(), variables=variables)
    return [templar.template(trust_as_template(port)) for port in task["published_ports"]]


@pytest.mark.parametrize("bind", ["", "10.0.0.5"])
def test_with_the_front_door_the_http_port_is_published_on_loopback_only(bind):
    dicom, http = _published({"inventory_hostname": "pacs1", "pacs_https_enabled": True}, bind)
    assert http == "127.0.0.1:8042:8042"
    assert dicom == ("10.0.0.5:4242:4242" if bind else "4242:4242")


@pytest.mark.parametrize("bind, expected", [("", "8042:8042"), ("10.0.0.5", "10.0.0.5:8042:8042")])
def test_without_it_both_ports_follow_the_bind_address(bind, expected):
    dicom, http = _published({"inventory_hostname": "pacs1"}, bind)
    assert http == expected and dicom == expected.replace("8042", "4242")
