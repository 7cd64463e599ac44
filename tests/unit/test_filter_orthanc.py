"""Unit tests of filter_plugins/orthanc.py, through FilterModule().filters()."""

import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from orthanc import MANAGED_KEYS, FilterModule

F = FilterModule().filters()
ROOT = pathlib.Path(__file__).resolve().parents[2]


def valid_settings(**overrides):
    settings = {
        "orthanc_dicom_aet": "GH_PACS",
        "orthanc_dicom_port": 4242,
        "orthanc_http_port": 8042,
        "orthanc_install_method": "package",
        "orthanc_database": "sqlite",
        "orthanc_users": [{"name": "admin", "password": "S3cure-Enough"}],
        "orthanc_authentication_enabled": True,
        "orthanc_modalities": [
            {"name": "CT_ROOM1", "aet": "CT1", "host": "10.20.0.11", "port": 104},
            {"name": "WORKSTATION", "aet": "RADIANT", "host": "ws1.example.org", "port": 11112,
             "manufacturer": "Generic", "allow_echo": True, "allow_store": True,
             "allow_find": True, "allow_move": True},
        ],
        "orthanc_dependent_modalities": [],
        "orthanc_peers": [{"name": "backup", "url": "https://pacs2.example.org:8042/",
                           "username": "peer", "password": "Peer-Pass-1"}],
        "orthanc_dicomweb_servers": [{"name": "research", "url": "https://dicomweb.example.org/dicom-web/",
                                      "username": "svc", "password": "Svc-Pass-12"}],
        "orthanc_webhook_url": "",
        "orthanc_lua_scripts": [],
        "orthanc_extra_config": {},
    }
    settings.update(overrides)
    return settings


def errors(**overrides):
    return F["orthanc_config_errors"](valid_settings(**overrides))


def test_all_filters_registered():
    assert set(F) == {"orthanc_modalities", "orthanc_peers", "orthanc_dicomweb_servers",
                      "orthanc_registered_users", "orthanc_config_errors", "dicom_ae_title_error",
                      "orthanc_redact", "orthanc_live_changes", "orthanc_parse_config",
                      "orthanc_lua_string", "orthanc_client_certificate_files",
                      "orthanc_python_errors", "orthanc_python_set_id", "orthanc_python_script"}


def test_modalities_object_form_with_defaults_and_permissions():
    result = F["orthanc_modalities"](valid_settings()["orthanc_modalities"])
    assert result["CT_ROOM1"] == {
        "AET": "CT1", "Host": "10.20.0.11", "Port": 104, "Manufacturer": "Generic",
        "AllowEcho": True, "AllowStore": True, "AllowFind": False, "AllowFindWorklist": False,
        "AllowMove": False, "AllowGet": False, "AllowStorageCommitment": False,
        "AllowTranscoding": True, "UseDicomTls": False}
    assert result["WORKSTATION"]["AllowFind"] is True and result["WORKSTATION"]["AllowMove"] is True


def test_modality_optional_fields():
    result = F["orthanc_modalities"]([{"name": "X", "aet": "X", "host": "h", "port": "104",
                                       "local_aet": "GH_OUT", "timeout": 7, "use_dicom_tls": True}])
    assert result["X"]["Port"] == 104
    assert result["X"]["LocalAet"] == "GH_OUT" and result["X"]["Timeout"] == 7
    assert result["X"]["UseDicomTls"] is True


def test_peers_and_servers_object_form():
    settings = valid_settings()
    assert F["orthanc_peers"](settings["orthanc_peers"]) == {
        "backup": {"Url": "https://pacs2.example.org:8042/", "Username": "peer", "Password": "Peer-Pass-1"}}
    servers = F["orthanc_dicomweb_servers"](
        settings["orthanc_dicomweb_servers"] + [{"name": "open", "url": "http://x/dicom-web/",
                                                 "has_delete": True, "http_headers": {"A": "b"}}])
    assert servers["research"]["Password"] == "Svc-Pass-12"
    assert servers["open"] == {"Url": "http://x/dicom-web/", "HasDelete": True, "HttpHeaders": {"A": "b"}}


def test_registered_users():
    assert F["orthanc_registered_users"]([{"name": "a", "password": "p"}]) == {"a": "p"}


@pytest.mark.parametrize("name", ["orthanc_modalities", "orthanc_peers", "orthanc_registered_users"])
def test_wrong_types_raise_clear_errors(name):
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        F[name]("CT1")
    with pytest.raises(AnsibleFilterError, match="list of dicts"):
        F[name](["CT1"])


def test_valid_settings_have_no_errors():
    assert errors() == []


@pytest.mark.parametrize("aet, fragment", [
    ("", "empty or only spaces"),
    ("    ", "empty or only spaces"),
    ("A" * 17, "17 characters"),
    ("CT\\1", "without backslash"),
    ("CTé", "printable ASCII"),
    (" CT1", "leading or trailing spaces"),
    (104, "must be a string"),
])
def test_bad_ae_titles(aet, fragment):
    found = errors(orthanc_dicom_aet=aet)
    assert len(found) == 1 and found[0].startswith("orthanc_dicom_aet: ") and fragment in found[0]


def test_ae_title_of_sixteen_characters_is_valid():
    assert F["dicom_ae_title_error"]("A" * 16) == ""


def test_bad_modality_fields_name_variable_item_and_problem():
    found = errors(orthanc_modalities=[
        {"name": "CT_ROOM1", "aet": "CT1 WITH A VERY LONG TITLE", "host": "http://ct", "port": 70000},
    ])
    assert "orthanc_modalities[CT_ROOM1].aet: 'CT1 WITH A VERY LONG TITLE' is 26 characters; an AE title has at most 16" in found
    assert any(e.startswith("orthanc_modalities[CT_ROOM1].host: 'http://ct' is a URL") for e in found)
    assert "orthanc_modalities[CT_ROOM1].port: 70000 is outside 1-65535" in found


def test_every_error_is_reported_at_once():
    found = errors(orthanc_dicom_aet="", orthanc_http_port=0,
                   orthanc_modalities=[{"name": "A", "aet": "", "host": "", "port": 0}])
    assert len(found) == 5


def test_duplicate_modality_names_aets_and_triples():
    ct = {"name": "CT", "aet": "CT1", "host": "10.0.0.1", "port": 104}
    found = errors(orthanc_modalities=[ct, dict(ct, name="ct"), dict(ct, name="CT2")])
    assert any("orthanc_modalities[ct].name: 'ct' is already used by orthanc_modalities[CT]" in e for e in found)
    assert any("orthanc_modalities[CT2].aet: 'CT1' is also the AE title of orthanc_modalities[CT]" in e
               for e in found)
    assert any(e.startswith("orthanc_modalities[CT2]: AE/host/port CT1@10.0.0.1:104 duplicates") for e in found)


def test_dependent_modalities_collide_with_inventory_modalities():
    found = errors(orthanc_dependent_modalities=[
        {"name": "ct_room1", "aet": "XNAT", "host": "xnat", "port": 8104}])
    assert any(e.startswith("orthanc_dependent_modalities[ct_room1].name: 'ct_room1' is already used")
               for e in found)


def test_modality_with_orthanc_own_aet():
    found = errors(orthanc_modalities=[{"name": "SELF", "aet": "GH_PACS", "host": "h", "port": 1}])
    assert found == ["orthanc_modalities[SELF].aet: 'GH_PACS' is Orthanc's own AE title "
                     "(orthanc_dicom_aet); a modality needs an AE of its own"]


def test_unknown_modality_key_and_bad_flag():
    found = errors(orthanc_modalities=[{"name": "A", "aet": "A", "host": "h", "port": 1,
                                        "allow_fnd": True, "allow_move": "yes"}])
    assert any("unknown key(s) allow_fnd" in e for e in found)
    assert "orthanc_modalities[A].allow_move: must be true or false, got 'yes'" in found


def test_missing_modality_fields():
    found = errors(orthanc_modalities=[{"name": "A"}])
    assert {"orthanc_modalities[A].aet: is missing", "orthanc_modalities[A].host: is missing",
            "orthanc_modalities[A].port: is missing"} <= set(found)


def test_same_port_for_dicom_and_http():
    assert errors(orthanc_http_port=4242) == [
        "orthanc_http_port: port 4242 is also orthanc_dicom_port; DICOM and HTTP need their own ports"]


@pytest.mark.parametrize("password", ["admin", "orthanc", "", "  Admin ", "changeme"])
def test_well_known_passwords_refused(password):
    found = errors(orthanc_users=[{"name": "admin", "password": password}])
    assert found and found[0].startswith("orthanc_users[admin].password: is a well-known or empty password")


def test_password_equal_to_user_and_short_password():
    assert errors(orthanc_users=[{"name": "radiology", "password": "radiology"}])[0].startswith(
        "orthanc_users[radiology].password: is a well-known")
    assert errors(orthanc_users=[{"name": "a", "password": "Xy7!"}]) == [
        "orthanc_users[a].password: is 4 characters; use at least 8"]


def test_authentication_needs_a_user():
    assert errors(orthanc_users=[])[0].startswith("orthanc_users: is empty but orthanc_authentication_enabled")
    assert errors(orthanc_users=[], orthanc_authentication_enabled=False) == []


@pytest.mark.parametrize("url, fragment", [
    ("ftp://x/", "must start with http:// or https://"),
    ("https://", "has no host"),
    ("pacs2:8042", "must start with http"),
    ("http://h:99999/", "not a valid URL"),
])
def test_bad_urls(url, fragment):
    found = errors(orthanc_peers=[{"name": "backup", "url": url}])
    assert len(found) == 1 and found[0].startswith("orthanc_peers[backup].url: ") and fragment in found[0]


def test_remote_without_password():
    found = errors(orthanc_dicomweb_servers=[{"name": "r", "url": "https://x/", "username": "svc"}])
    assert found == ["orthanc_dicomweb_servers[r].password: is empty but a username is set; "
                     "put the password in Ansible Vault"]


def test_extra_config_cannot_shadow_managed_keys():
    found = errors(orthanc_extra_config={"DicomAet": "X", "dicomport": 1, "StableAge": 5,
                                         "DicomWeb": {"Servers": {}}, "HttpTimeout": 10})
    assert "orthanc_extra_config[DicomAet]: DicomAet is managed by orthanc_dicom_aet; set orthanc_dicom_aet instead so one Orthanc key has one source" in found
    assert any(e.startswith("orthanc_extra_config[dicomport]: differs only in case from DicomPort") for e in found)
    assert any(e.startswith("orthanc_extra_config[StableAge]: StableAge is managed by orthanc_stable_age") for e in found)
    assert "orthanc_extra_config[DicomWeb.Servers]: managed by orthanc_dicomweb_servers; set orthanc_dicomweb_servers instead" in found
    assert len(found) == 4


def test_every_rendered_key_with_a_variable_is_protected():
    """Keys the role renders from a variable must be refused in orthanc_extra_config."""
    rendered = yaml.safe_load((ROOT / "roles/orthanc/vars/main.yml").read_text())["__orthanc_config_base"]
    without_variable = {"EnableWado", "WadoRoot"}
    for key in rendered:
        if key != "DicomWeb":
            assert key in MANAGED_KEYS, key
    for key in rendered["DicomWeb"]:
        if key not in without_variable:
            assert errors(orthanc_extra_config={"DicomWeb": {key: 1}}), key


def test_install_method_database_tls_and_lua():
    assert errors(orthanc_install_method="snap") == [
        "orthanc_install_method: 'snap' is not one of package, container"]
    found = errors(orthanc_database="postgresql", orthanc_postgresql_host="", orthanc_postgresql_password="")
    assert len(found) == 2
    assert errors(orthanc_dicom_tls_certificate="-----BEGIN CERTIFICATE-----")[0].startswith(
        "orthanc_dicom_tls_certificate: DICOM TLS needs")
    assert errors(orthanc_https_certificate="just a cert")[0].startswith("orthanc_https_certificate:")
    assert errors(orthanc_lua_scripts=[{"name": "x.py", "content": ""}]) == [
        "orthanc_lua_scripts[x.py].name: 'x.py' must be a file name ending in .lua",
        "orthanc_lua_scripts[x.py].content: is empty"]
    assert errors(orthanc_webhook_url="not a url")[0].startswith("orthanc_webhook_url:")


def test_non_dict_items_reported():
    assert errors(orthanc_modalities=["CT1"]) == [
        "orthanc_modalities[#0]: must be a dict, got str 'CT1'"]


def test_redact_masks_every_secret_and_keeps_the_rest():
    config = {"RegisteredUsers": {"admin": "S3cret"}, "DicomAet": "X",
              "OrthancPeers": {"b": {"Url": "u", "Username": "p", "Password": "PeerSecret"}},
              "DicomWeb": {"Servers": {"r": {"Url": "u", "Password": "DwSecret",
                                             "CertificateKeyPassword": "K"}}},
              "PostgreSQL": {"Password": "PgSecret", "Host": "db"}}
    redacted = F["orthanc_redact"](config)
    text = repr(redacted)
    for secret in ("S3cret", "PeerSecret", "DwSecret", "PgSecret", "'K'"):
        assert secret not in text
    assert redacted["DicomAet"] == "X" and redacted["PostgreSQL"]["Host"] == "db"
    assert config["RegisteredUsers"]["admin"] == "S3cret"  # input untouched
    with pytest.raises(AnsibleFilterError):
        F["orthanc_redact"]([])


def test_native_https_refused_where_the_package_cannot_serve_it():
    pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\ny\n"
    found = errors(orthanc_https_certificate=pem, orthanc_https_native_supported=False)
    assert len(found) == 1 and "cannot serve HTTPS" in found[0] and "container" in found[0]
    assert errors(orthanc_https_certificate=pem, orthanc_https_native_supported=True) == []


BASE_CONFIG = {
    "DicomAet": "GH", "HttpPort": 8042,
    "DicomModalities": {"CT": {"AET": "CT1", "Host": "h", "Port": 104}},
    "OrthancPeers": {"backup": {"Url": "u", "Username": "p", "Password": "s"}},
    "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Servers": {"r": {"Url": "x"}}},
}


def with_changes(**sections):
    import copy
    config = copy.deepcopy(BASE_CONFIG)
    for key, value in sections.items():
        if key == "Servers":
            config["DicomWeb"]["Servers"] = value
        else:
            config[key] = value
    return config


def test_live_changes_nothing_changed():
    assert F["orthanc_live_changes"](BASE_CONFIG, with_changes()) == {"restart": False, "calls": []}


def test_live_changes_added_changed_and_removed_modalities_without_restart():
    new = with_changes(DicomModalities={"CT": {"AET": "CT1", "Host": "h2", "Port": 104},
                                        "MR": {"AET": "MR1", "Host": "m", "Port": 104}})
    result = F["orthanc_live_changes"](BASE_CONFIG, new)
    assert result["restart"] is False
    assert result["calls"] == [
        {"method": "PUT", "path": "/modalities/CT", "body": new["DicomModalities"]["CT"], "secret": False},
        {"method": "PUT", "path": "/modalities/MR", "body": new["DicomModalities"]["MR"], "secret": False}]
    removed = F["orthanc_live_changes"](new, BASE_CONFIG)["calls"]
    assert {"method": "DELETE", "path": "/modalities/MR", "body": None, "secret": False} in removed


def test_live_changes_peers_and_dicomweb_servers_are_secret_calls():
    new = with_changes(OrthancPeers={}, Servers={"r": {"Url": "x", "Password": "pw"}})
    calls = F["orthanc_live_changes"](BASE_CONFIG, new)["calls"]
    assert {"method": "PUT", "path": "/dicom-web/servers/r", "body": {"Url": "x", "Password": "pw"},
            "secret": True} in calls
    assert {"method": "DELETE", "path": "/peers/backup", "body": None, "secret": False} in calls


def test_live_changes_other_keys_need_a_restart():
    assert F["orthanc_live_changes"](BASE_CONFIG, with_changes(DicomAet="NEW"))["restart"] is True
    new = with_changes()
    new["DicomWeb"]["Root"] = "/dw/"
    assert F["orthanc_live_changes"](BASE_CONFIG, new)["restart"] is True
    assert F["orthanc_live_changes"]({}, BASE_CONFIG)["restart"] is True
    with pytest.raises(AnsibleFilterError):
        F["orthanc_live_changes"](None, BASE_CONFIG)


def test_parse_config_with_comments_and_garbage():
    assert F["orthanc_parse_config"]("//\n// Ansible managed\n{\"DicomAet\": \"X\"}\n") == {"DicomAet": "X"}
    assert F["orthanc_parse_config"]("") == {} and F["orthanc_parse_config"]("{broken") == {}
    assert F["orthanc_parse_config"]("[1]") == {}


@pytest.mark.parametrize("value", [-1, "-1", "three", 1.5, True])
def test_bad_number_of_config_backups(value):
    assert errors(orthanc_config_backups=value) == [
        f"orthanc_config_backups: {value!r} is not a whole number >= 0"]


@pytest.mark.parametrize("value", [0, 3, "5"])
def test_good_number_of_config_backups(value):
    assert errors(orthanc_config_backups=value) == []


# --- Issue 18: every value refused by name or rendered safely ---------------------------------

def _modality(**fields):
    return {"name": "US1", "aet": "US1", "host": "10.20.0.12", "port": 104, **fields}


@pytest.mark.parametrize("name", [".", "..", "...", "a/b", "a b", "x?y", "x#y", "%2e%2e", "tab\tname",
                                  "new\nline", "\u00e9cho", "", "A" * 65])
def test_names_that_orthanc_rest_path_cannot_address_are_refused(name):
    for variable, item in (("orthanc_modalities", _modality(name=name)),
                           ("orthanc_peers", {"name": name, "url": "https://p.example.org/"}),
                           ("orthanc_dicomweb_servers", {"name": name, "url": "https://d.example.org/"})):
        result = errors(**{variable: [item]})
        assert len(result) == 1 and result[0].startswith(f"{variable}[") and ".name: " in result[0], result


def test_dotted_names_that_are_not_only_dots_are_kept():
    assert errors(orthanc_modalities=[_modality(name="ct.room-1_a")]) == []


@pytest.mark.parametrize("url, problem", [
    ("https://p.example.org/\nX-Injected: 1", "contains control character(s) '\\n'"),
    ("https://p.example.org/\r", "contains control character(s) '\\r'"),
    ("https://p.exa\tmple.org/", "contains control character(s) '\\t'"),
    ("https://p.example.org/\x7f", "contains control character(s) '\\x7f'"),
    ("https://h\u00f4pital.example/", "contains non-ASCII characters"),
    ("https://p.example.org/caf\u00e9", "contains non-ASCII characters"),
    ("https://p.example.org/a b", "contains a space"),
    ("HTTPS://p.example.org/", "must start with http:// or https:// in lower case"),
    ("Http://p.example.org/", "must start with http:// or https:// in lower case"),
    ("ftp://p.example.org/", "must start with http:// or https://"),
    ("https://peer:s3cret@p.example.org/", "carries credentials (user:password@)"),
    ("https://peer@p.example.org/", "carries credentials (user:password@)"),
])
def test_urls_are_checked_on_the_raw_string(url, problem):
    for variable in ("orthanc_peers", "orthanc_dicomweb_servers"):
        result = errors(**{variable: [{"name": "x", "url": url}]})
        assert len(result) == 1 and result[0].startswith(f"{variable}[x].url: ") and problem in result[0], result
    result = errors(orthanc_webhook_url=url)
    assert len(result) == 1 and result[0].startswith("orthanc_webhook_url: ") and problem in result[0], result


def test_credentials_never_reach_a_message():
    for url in ("https://peer:s3cret@p.example.org/", "peer:s3cret@p.example.org/",
                "https://peer:s3/cr?et@p.example.org:99999/", "HTTPS://peer:s3cret@p.example.org/\n"):
        result = errors(orthanc_peers=[{"name": "x", "url": url}])
        assert result and not any("s3" in e for e in result), result


@pytest.mark.parametrize("headers, problem", [
    ({"X-Source": "pacs\r\nX-Admin: yes"}, "[X-Source]: the value contains control character(s)"),
    ({"X-Source": "a\nb"}, "[X-Source]: the value contains control character(s)"),
    ({"X Source": "a"}, "the header name 'X Source' (str) must be letters"),
    ({"X-Source\r\n": "a"}, "must be letters, digits"),
    ({"X-Source": 5}, "[X-Source]: the value must be a string, got int 5"),
    ({"X-Source": "a", "x-source": "b"}, "[x-source]: is the header X-Source again"),
])
def test_http_headers_are_tokens_with_single_line_values(headers, problem):
    result = errors(orthanc_webhook_url="http://10.0.0.9/events", orthanc_webhook_headers=headers)
    assert len(result) == 1 and result[0].startswith("orthanc_webhook_headers") and problem in result[0], result
    result = errors(orthanc_peers=[{"name": "x", "url": "https://p.example.org/", "http_headers": headers}])
    assert len(result) == 1 and result[0].startswith("orthanc_peers[x].http_headers") and problem in result[0]


def test_the_webhook_sets_content_type_itself():
    result = errors(orthanc_webhook_headers={"content-type": "text/plain"})
    assert result == ["orthanc_webhook_headers[content-type]: is the header Content-Type again (HTTP header "
                      "names ignore case); only one value would be sent"]


def test_lua_string_holds_every_byte_in_every_lua_version():
    lua = F["orthanc_lua_string"]
    assert lua("http://10.0.0.9/events") == '"http://10.0.0.9/events"'
    assert lua('a"b\\c') == '"a\\034b\\092c"'
    assert lua("caf\u00e9\n") == '"caf\\195\\169\\010"'
    assert lua("\U0001f642") == '"\\240\\159\\153\\130"'
    assert "\\u" not in lua("\u00e9\u2028")
    with pytest.raises(AnsibleFilterError, match="not valid Unicode"):
        lua("\ud800")
    with pytest.raises(AnsibleFilterError, match="expects a string, got int"):
        lua(5)


def test_webhook_template_uses_lua_literals_not_json():
    text = (ROOT / "roles" / "orthanc" / "templates" / "webhook.lua.j2").read_text()
    assert "to_json" not in text and text.count("| orthanc_lua_string }}") == 4


@pytest.mark.parametrize("value, problem", [
    (float("inf"), "inf (float) cannot be written in JSON (no NaN or Infinity)"),
    (float("-inf"), "-inf (float) cannot be written in JSON"),
    (float("nan"), "nan (float) cannot be written in JSON"),
    (b"\x00\x01", "is binary data (!!binary)"),
    ({1, 2}, "is a set (!!set)"),
    (__import__("datetime").date(2024, 1, 2), "is a date (2024-01-02)"),
    (__import__("datetime").datetime(2024, 1, 2, 3, 4), "is a datetime"),
    ("\ud800", "lone UTF-16 surrogate"),
])
def test_values_json_cannot_hold_are_refused_naming_the_path(value, problem):
    result = errors(orthanc_extra_config={"Worklists": {"Database": [value]}})
    assert len(result) == 1 and result[0].startswith("orthanc_extra_config[Worklists.Database.0]: ") \
        and problem in result[0], result
    result = errors(orthanc_modalities=[_modality(description=value)])
    assert any(e.startswith("orthanc_modalities[US1].description: ") and problem in e for e in result), result


def test_keys_json_cannot_hold_or_that_differ_only_in_case_are_refused():
    assert errors(orthanc_extra_config={"Worklists": {1: "a"}}) == [
        "orthanc_extra_config[Worklists]: the key 1 is a int; JSON keys are strings: quote it"]
    result = errors(orthanc_extra_config={"Worklists": {"Enable": True, "enable": False}})
    assert result == ["orthanc_extra_config[Worklists.enable]: differs only in case from Enable; Orthanc reads "
                      "keys case-sensitively and would ignore one of them"]


@pytest.mark.parametrize("key, managed", [("servers", "Servers"), ("SERVERS", "Servers"), ("root", "Root"),
                                          ("enable", "Enable")])
def test_a_dicomweb_key_differing_only_in_case_from_a_managed_one_is_refused(key, managed):
    result = errors(orthanc_extra_config={"DicomWeb": {key: {}}})
    assert result[0].startswith(f"orthanc_extra_config[DicomWeb.{key}]: differs only in case from {managed}")


def test_a_dicomweb_section_in_another_case_is_refused():
    result = errors(orthanc_extra_config={"dicomweb": {"MetadataWorkerThreadsCount": 2}})
    assert result == ["orthanc_extra_config[dicomweb]: differs only in case from DicomWeb, the section the role "
                      "renders; the DICOMweb plugin would ignore it"]


@pytest.mark.parametrize("manufacturer", ["Generic", "GenericNoWildcardInDates", "GenericNoUniversalWildcard",
                                          "StoreScp", "Vitrea", "GE"])
def test_orthanc_manufacturers_are_accepted_in_their_exact_case(manufacturer):
    assert errors(orthanc_modalities=[_modality(manufacturer=manufacturer)]) == []


@pytest.mark.parametrize("manufacturer, hint", [("generic", "did you mean 'Generic'?"), ("GENERIC", "Generic"),
                                                ("ge", "did you mean 'GE'?"), ("Siemens", "is not one of"),
                                                ("ClearCanvas", "obsolete"), ("AgfaImpax", "GenericNoWildcardInDates"),
                                                (5, "(int) is not one of")])
def test_other_manufacturers_are_refused(manufacturer, hint):
    result = errors(orthanc_modalities=[_modality(manufacturer=manufacturer)])
    assert len(result) == 1 and result[0].startswith("orthanc_modalities[US1].manufacturer: ") and hint in result[0]


SELF = {"orthanc_address": "10.20.0.5", "ansible_host": "pacs1.example.org"}


@pytest.mark.parametrize("host, port, own", [
    ("10.20.0.5", 4242, "orthanc_dicom_port"), ("10.20.0.5", 8042, "orthanc_http_port"),
    ("pacs1.example.org", 4242, "orthanc_dicom_port"), ("PACS1.example.org.", 4242, "orthanc_dicom_port"),
    ("127.0.0.1", 4242, "orthanc_dicom_port"), ("127.0.1.1", 4242, "orthanc_dicom_port"),
    ("localhost", 8042, "orthanc_http_port"), ("::1", 4242, "orthanc_dicom_port"),
])
def test_a_modality_pointing_at_the_pacs_itself_is_refused(host, port, own):
    result = errors(orthanc_modalities=[_modality(host=host, port=port)], **SELF)
    assert result == [f"orthanc_modalities[US1].host: {host}:{port} is this Orthanc itself (its own address or "
                      f"loopback, and {own}); a modality must be another DICOM node"]


def test_an_xnat_receiver_pointing_at_the_pacs_itself_names_the_xnat_server():
    dependent = [{"name": "XNAT_A", "aet": "XNAT_A", "host": "pacs1.example.org", "port": 4242,
                  "allow_echo": True, "allow_find": True, "allow_move": True, "allow_store": True}]
    result = errors(orthanc_dependent_modalities=dependent, **SELF)
    assert len(result) == 1 and "(the DQR receiver of xnat_dqr_servers[XNAT_A])" in result[0]


@pytest.mark.parametrize("url", ["http://10.20.0.5:8042/", "https://pacs1.example.org:4242/", "http://localhost:8042/",
                                 "http://[::1]:8042/"])
def test_a_peer_or_dicomweb_server_pointing_at_the_pacs_itself_is_refused(url):
    for variable in ("orthanc_peers", "orthanc_dicomweb_servers"):
        result = errors(**{variable: [{"name": "x", "url": url}]}, **SELF)
        assert len(result) == 1 and result[0].startswith(f"{variable}[x].url: ")
        assert "is this Orthanc itself" in result[0]


@pytest.mark.parametrize("host, port", [("10.20.0.5", 104), ("127.0.0.1", 10104), ("10.20.0.6", 4242),
                                        ("pacs2.example.org", 8042)])
def test_other_ports_on_the_same_machine_and_other_hosts_are_kept(host, port):
    assert errors(orthanc_modalities=[_modality(host=host, port=port)], **SELF) == []
    assert errors(orthanc_peers=[{"name": "x", "url": f"http://{host}:{port}/"}], **SELF) == []


def test_a_trailing_newline_is_not_a_valid_name():
    """Python's `$` matches before a final newline: every name pattern must end at the string's end."""
    from orthanc import _SYMBOLIC_NAME_RE, _HEADER_NAME_RE  # noqa: PLC0415
    assert not _SYMBOLIC_NAME_RE.match("CT_ROOM1\n") and _SYMBOLIC_NAME_RE.match("CT_ROOM1")
    assert not _HEADER_NAME_RE.match("X-Token\n")
