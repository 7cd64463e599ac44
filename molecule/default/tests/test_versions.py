"""Keys of newer Orthanc versions: rendered where the host's Orthanc reads them, refused where not.

pp-default-trixie (Debian 13, Orthanc 1.12.7) sets retrieve_method C-GET on one modality
(host_vars); the real Orthanc must report it. The Debian 12 hosts (Orthanc 1.10.1, which
ignores the key without a word) render none of the newer keys, and a run that asks for one
there fails before anything changes, naming the variable, the item and both versions.
"""

import re
import sys

import pytest
import requests
from conftest import PROJECT, read_orthanc_json, run_playbook

sys.path.insert(0, str(PROJECT / "filter_plugins"))
from orthanc_versions import KEYS_SINCE, MODALITY_KEYS_SINCE  # noqa: E402  pylint: disable=wrong-import-position

testinfra_hosts = ["pp-default-trixie", "pp-default-pacs", "pp-default-tls"]


@pytest.fixture
def hostname(host):
    return host.backend.get_hostname()


def test_debian_13_orthanc_reads_the_retrieve_method_of_each_modality(host, hostname, hostvars):
    if hostname != "pp-default-trixie":
        pytest.skip("Orthanc 1.12.7 runs on pp-default-trixie only")
    assert host.package("orthanc").version.startswith("1.12.7")
    rendered = read_orthanc_json(host)["DicomModalities"]
    assert rendered["CT_ROOM1"]["RetrieveMethod"] == "C-GET"
    assert "RetrieveMethod" not in rendered["WORKSTATION"]
    address = hostvars.get("orthanc_address") or host.interface("eth0").addresses[0]
    user = hostvars["orthanc_users"][0]
    answer = requests.get(f"http://{address}:{hostvars['orthanc_http_port']}/modalities?expand",
                          auth=(user["name"], user["password"]), timeout=10)
    answer.raise_for_status()
    modalities = answer.json()
    # What Orthanc itself made of the file: C-GET where set, its own default elsewhere.
    assert modalities["CT_ROOM1"]["RetrieveMethod"] == "C-GET"
    assert modalities["WORKSTATION"]["RetrieveMethod"] == "SystemDefault"


def test_debian_12_renders_no_key_of_a_newer_orthanc(host, hostname):
    if hostname == "pp-default-trixie":
        pytest.skip("Debian 12 hosts only")
    assert host.package("orthanc").version.startswith("1.10.1")
    config = read_orthanc_json(host)
    newer = sorted(set(config) & set(KEYS_SINCE) - {"RestApiWriteToFileSystemEnabled"})
    assert newer == []
    for name, entry in config["DicomModalities"].items():
        assert not set(entry) & set(MODALITY_KEYS_SINCE), name
    assert "RetrieveMethod" not in host.file("/etc/orthanc/orthanc.json").content_string


def test_asking_debian_12_for_a_retrieve_method_fails_before_any_change(host, hostname, tmp_path):
    if hostname != "pp-default-pacs":
        pytest.skip("one Debian 12 host is enough")
    config = host.file("/etc/orthanc/orthanc.json")
    before = (config.content_string, config.mtime)
    listing = host.check_output("ls -l --time-style=full-iso /etc/orthanc")
    wanted = tmp_path / "retrieve.yml"
    wanted.write_text(
        "orthanc_modalities:\n"
        "  - {name: CT_ROOM1, aet: CT1, host: 172.28.20.21, port: 104, expected_offline: true,"
        " retrieve_method: C-GET}\n")
    code, output = run_playbook("site.yml", hostname, "-e", "@%s" % wanted)
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # molecule forces colour
    assert code != 0, output
    assert ("orthanc_modalities[CT_ROOM1].retrieve_method: needs Orthanc 1.12.6 or later; this host runs "
            "1.10.1 (Debian package orthanc 1.10.1+dfsg-2+deb12u1, installed on this host)") in output, output
    recap = [line for line in output.splitlines() if line.startswith(hostname) and "changed=" in line]
    assert recap and "changed=0" in recap[-1] and "failed=1" in recap[-1], output
    # Nothing moved: the configuration, its folder, and Orthanc on it.
    assert (config.content_string, config.mtime) == before
    assert host.check_output("ls -l --time-style=full-iso /etc/orthanc") == listing
    assert host.service("orthanc").is_running
