"""Unit tests of the cross-host filter pacs_inventory_errors."""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from pacs_inventory import FilterModule

ERRORS = FilterModule().filters()["pacs_inventory_errors"]

GOOD = {
    "pacs1": {"ansible_host": "10.1.0.10", "orthanc_dicom_aet": "PACS1",
              "orthanc_modalities": [{"name": "CT1", "aet": "CT1", "host": "10.1.0.20", "port": 104},
                                     {"name": "PACS2", "aet": "PACS2", "host": "10.1.0.11", "port": 4242}],
              "xnat_dqr_servers": [{"name": "X", "url": "https://xnat.example.org",
                                    "receiver": {"aet": "XNAT", "host": "10.1.0.30", "port": 8104}}],
              "orthanc_dicomweb_servers": [{"name": "ai", "url": "https://ai.example.org/dicom-web/"}]},
    "pacs2": {"ansible_host": "10.1.0.11", "orthanc_dicom_aet": "PACS2",
              "orthanc_modalities": [{"name": "CT1", "aet": "CT1", "host": "10.1.0.20", "port": 104}],
              "xnat_dqr_servers": [{"name": "X", "url": "https://xnat.example.org/",
                                    "receiver": {"aet": "XNAT", "host": "10.1.0.30", "port": 8104}}],
              "orthanc_dicomweb_servers": [{"name": "AI", "url": "https://ai.example.org/dicom-web/"}]},
}


def hospital(**changes):
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        host, key = path.split("__")
        data[host][key] = value
    return data


def test_a_consistent_hospital_has_no_error():
    assert ERRORS(GOOD) == []
    assert ERRORS({}) == []


def test_orthanc_ae_titles_are_unique():
    errors = ERRORS(hospital(pacs2__orthanc_dicom_aet="PACS1"))
    assert "pacs2 orthanc_dicom_aet: 'PACS1' is also the AE title of Orthanc host pacs1; AE titles " \
           "must be unique within a hospital" in errors


def test_defaults_apply_when_the_ae_title_is_not_set():
    data = {"a": {"ansible_host": "h1"}, "b": {"ansible_host": "h2"}}
    assert any("'ORTHANC' is also the AE title" in e for e in ERRORS(data))


def test_a_modality_with_an_orthanc_ae_title_must_point_at_it():
    data = hospital(pacs1__orthanc_modalities=[{"name": "P2", "aet": "PACS2", "host": "10.1.0.99", "port": 4242}])
    assert ["pacs1 orthanc_modalities[P2].aet: 'PACS2' is the AE title of Orthanc host pacs2, but this entry "
            "points at 10.1.0.99:4242, not at 10.1.0.11:4242"] == ERRORS(data)


def test_one_ae_title_names_one_node():
    data = hospital(pacs2__orthanc_modalities=[{"name": "CT1", "aet": "CT1", "host": "10.1.0.21", "port": 104}])
    errors = ERRORS(data)
    assert len(errors) == 1 and errors[0].startswith("pacs2 orthanc_modalities[CT1].aet: 'CT1' is 10.1.0.21:104")


def test_modality_hosts_collide():
    data = hospital(pacs2__orthanc_modalities=[{"name": "US1", "aet": "US1", "host": "10.1.0.20", "port": 104}])
    assert ERRORS(data) == ["pacs2 orthanc_modalities[US1].host: 10.1.0.20:104 is also the endpoint of AE 'CT1' "
                            "in pacs1 orthanc_modalities[CT1]; these modality hosts collide (two AE titles on one "
                            "host and port)"]


def test_a_modality_on_another_orthancs_dicom_port_collides():
    data = hospital(pacs1__orthanc_modalities=[{"name": "US1", "aet": "US1", "host": "10.1.0.11", "port": 4242}])
    assert any(e.startswith("pacs1 orthanc_modalities[US1].host: 10.1.0.11:4242 is the DICOM port of Orthanc "
                            "host pacs2 (AE 'PACS2')") for e in ERRORS(data))


def test_one_xnat_has_one_receiver():
    data = hospital(pacs2__xnat_dqr_servers=[{"name": "X", "url": "https://xnat.example.org",
                                              "receiver": {"aet": "XNAT2", "host": "10.1.0.30", "port": 8104}}])
    errors = ERRORS(data)
    assert any("pacs2 xnat_dqr_servers[X].receiver: XNAT2@10.1.0.30:8104 differs from XNAT@10.1.0.30:8104" in e
               for e in errors)


def test_pacs_labels_are_unique_in_one_xnat():
    data = hospital(pacs2__xnat_dqr_servers=[dict(GOOD["pacs2"]["xnat_dqr_servers"][0], pacs_label="PACS1")])
    assert ERRORS(data) == ["pacs2 xnat_dqr_servers[X].pacs_label: 'PACS1' is also the PACS label of Orthanc host "
                            "pacs1 in XNAT https://xnat.example.org/; the second registration would overwrite "
                            "the first"]


def test_ports_do_not_clash_on_one_machine():
    data = hospital(pacs2__ansible_host="10.1.0.10", pacs1__orthanc_install_method="container",
                    pacs2__orthanc_install_method="container", pacs2__orthanc_container_name="o2",
                    pacs2__orthanc_http_port=8043)
    data["pacs1"]["orthanc_modalities"] = data["pacs1"]["orthanc_modalities"][:1]
    assert ERRORS(data) == ["pacs2 orthanc_dicom_port: port 4242 is also orthanc_dicom_port of Orthanc host pacs1 "
                            "on the same machine 10.1.0.10; no port clashes on a host"]


def test_one_machine_has_one_packaged_orthanc_and_distinct_container_names():
    data = hospital(pacs2__ansible_host="10.1.0.10", pacs2__orthanc_dicom_port=4243, pacs2__orthanc_http_port=8043)
    data["pacs1"]["orthanc_modalities"] = data["pacs1"]["orthanc_modalities"][:1]
    assert [e.split(":")[0] for e in ERRORS(data)] == ["pacs2 orthanc_install_method"]
    for host in ("pacs1", "pacs2"):
        data[host]["orthanc_install_method"] = "container"
    assert [e.split(":")[0] for e in ERRORS(data)] == ["pacs2 orthanc_container_name"]


def test_orthanc_ports_are_not_the_ssh_port():
    assert ERRORS(hospital(pacs1__orthanc_http_port="22")) == [
        "pacs1 orthanc_http_port: port 22 is the SSH port (pacs_firewall_ssh_port) of machine 10.1.0.10"]


def test_a_dicomweb_name_means_one_url():
    data = hospital(pacs2__orthanc_dicomweb_servers=[{"name": "AI", "url": "https://other.example.org/"}])
    assert ERRORS(data) == ["pacs2 orthanc_dicomweb_servers[AI].name: 'AI' is also the DICOMweb server pacs1 "
                            "orthanc_dicomweb_servers[ai] at 'https://ai.example.org/dicom-web/'; a DICOMweb "
                            "server name means one server in a hospital"]


def _front_door(**pacs2):
    data = copy.deepcopy(GOOD)
    data["pacs2"].update({"pacs_https_enabled": True, "pacs_https_server_name": "pacs2.hospital.example"}, **pacs2)
    return data


@pytest.mark.parametrize("variable, url, fix", [
    ("orthanc_peers", "http://10.1.0.11:8042/", "https://pacs2.hospital.example/"),
    ("orthanc_peers", "http://pacs2.hospital.example/", "https://pacs2.hospital.example/"),
    ("orthanc_dicomweb_servers", "http://10.1.0.11:8042/dicom-web/", "https://pacs2.hospital.example/dicom-web/"),
])
def test_a_plain_http_url_to_a_host_behind_its_front_door_is_refused_with_the_https_url(variable, url, fix):
    data = _front_door()
    data["pacs1"][variable] = [{"name": "pacs2", "url": url}]
    assert ERRORS(data) == ["pacs1 %s[pacs2].url: %s is Orthanc host pacs2, which answers only through its HTTPS "
                            "front door (pacs_https_enabled); use %s" % (variable, url, fix)]


def test_the_front_door_url_and_hosts_without_one_are_kept():
    data = _front_door(pacs_https_port=8443)
    data["pacs1"]["orthanc_peers"] = [{"name": "pacs2", "url": "https://pacs2.hospital.example:8443/"},
                                      {"name": "other", "url": "http://10.1.0.99:8042/"}]
    data["pacs2"]["orthanc_peers"] = [{"name": "self", "url": "http://127.0.0.1:8042/"}]
    assert ERRORS(data) == []
    plain = copy.deepcopy(GOOD)
    plain["pacs1"]["orthanc_peers"] = [{"name": "pacs2", "url": "http://10.1.0.11:8042/"}]
    assert ERRORS(plain) == []


def test_every_problem_is_reported_at_once():
    data = hospital(pacs2__orthanc_dicom_aet="PACS1", pacs2__ansible_host="10.1.0.10",
                    pacs2__orthanc_dicomweb_servers=[{"name": "ai", "url": "https://x.example.org/"}])
    assert len(ERRORS(data)) >= 4


def test_malformed_items_are_left_to_the_roles_filters():
    data = hospital(pacs1__orthanc_modalities=["CT1", {"name": "X"}, {"aet": 7, "host": None, "port": "x"}],
                    pacs1__xnat_dqr_servers="nope", pacs1__orthanc_dicom_port=True)
    assert ERRORS(data) == []


@pytest.mark.parametrize("value", [None, [], "pacs1", 3])
def test_refuses_a_non_dict(value):
    with pytest.raises(AnsibleFilterError, match=type(value).__name__):
        ERRORS(value)


def test_refuses_host_variables_that_are_not_a_dict():
    with pytest.raises(AnsibleFilterError, match="pacs1.*list"):
        ERRORS({"pacs1": []})


def test_documentation_is_valid_yaml():
    import yaml

    import pacs_inventory

    for name in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(pacs_inventory, name)), name
    assert yaml.safe_load(pacs_inventory.DOCUMENTATION)["name"] == "pacs_inventory_errors"
