"""Unit tests of the stand-in for orthancteam/orthanc's configuration generator
(images/orthancteam/generate_configuration.py).

Every expectation comes from the real sources, not from the stand-in: orthanc-builder
docker/orthanc (image 26.8.1) generateConfiguration.py, configurator.py, helpers.py,
orthanc-defaults.json, plugins-def.json, and the PyPI envsubst 0.1.5 that image installs
(its README's examples and its two regular expressions). The last tests feed the
generator what the orthanc role renders (filter_plugins/orthanc_container.py) and check
that every character of a secret comes out of the generator in the form Orthanc turns
back into the secret.
"""

import importlib.util
import json
import os
import pathlib
import re

import pytest
from orthanc_container import FilterModule

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images/orthancteam"
_SPEC = importlib.util.spec_from_file_location("pp_orthancteam_generator", IMAGE / "generate_configuration.py")
GEN = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(GEN)
F = FilterModule().filters()


@pytest.fixture
def image(tmp_path):
    """The image's folders in tmp_path: /etc/orthanc, /run/secrets, plugins-available
    (holding the libraries of DicomWeb, Gdcm, PostgreSQL and Orthanc Explorer 2) and the
    plugins folder, plus a run() that generates and returns (status, config, stdout)."""
    dirs = {name: tmp_path / name for name in ("etc", "secrets", "available", "plugins", "run")}
    for name in ("etc", "secrets", "available", "plugins"):
        dirs[name].mkdir()
    for lib in ("libOrthancDicomWeb.so", "libOrthancGdcm.so", "libOrthancExplorer2.so",
                "libOrthancPostgreSQLIndex.so", "libOrthancPostgreSQLStorage.so"):
        (dirs["available"] / lib).write_bytes(b"\x7fELF stand-in")
    output = tmp_path / "orthanc.json"

    def run(environ, capsys):
        status = GEN.generate(str(IMAGE), dict(environ), etc_dir=str(dirs["etc"]),
                              secrets_dir=str(dirs["secrets"]), output=str(output),
                              argv=["generateConfiguration.py"],
                              plugins_available=str(dirs["available"]), run_plugins=str(dirs["run"]),
                              plugins=str(dirs["plugins"]))
        config = json.loads(output.read_text(encoding="utf-8")) if status == 0 else None
        return status, config, capsys.readouterr().out

    dirs["run_generator"] = run
    dirs["output"] = output
    return dirs


USERS = {"RegisteredUsers": {"admin": "S3cure-Enough"}}


# --- envsubst 0.1.5 ---------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("$USER@$HOST", "ann@box"),                 # README: simple variables
    ("${USER}", "ann"),                          # bracketed, identical to $USER
    ("a$UNSET-b", "a-b"),                        # unset: empty string
    ("${UNSET:-dflt}", "dflt"),                  # :- unset
    ("${EMPTY:-dflt}", "dflt"),                  # :- set but empty
    ("${EMPTY-dflt}", ""),                       # - only when unset
    ("${UNSET-$USER}", "ann"),                   # defaults go through the simple pass
    (r"\$USER", r"\$USER"),                      # a backslash protects $, and stays
    ("$1|$0", "|generateConfiguration.py"),      # numbers are the generator's own argv
    ("p$$", "p$$"),                              # a $ not followed by a name is kept
    ("${A B}", "${A B}"),                        # not a name: kept
    ("\\u0024{USER}", "\\u0024{USER}"),          # the JSON escape carries no $
])
def test_envsubst_matches_the_package(text, expected):
    environ = {"USER": "ann", "HOST": "box", "EMPTY": ""}
    assert GEN.envsubst(text, environ, ["generateConfiguration.py"]) == expected


def test_envsubst_runs_the_simple_pass_first():
    """$X's value is scanned again by the ${...} pass (two re.sub in a row)."""
    assert GEN.envsubst("$X", {"X": "${Y}", "Y": "deep"}, []) == "deep"


# --- helpers.py ---------------------------------------------------------------------------

def test_comments_go_but_strings_stay():
    text = '// head\n{"Url": "http://x//y", /* c */ "K": 1} // tail\n'
    assert json.loads(GEN.remove_comments(text)) == {"Url": "http://x//y", "K": 1}


@pytest.mark.parametrize("name, path", [
    ("ORTHANC__STABLE_AGE", ["StableAge"]),
    ("ORTHANC__DICOM_WEB__ROOT", ["DicomWeb", "Root"]),
    ("ORTHANC__POSTGRESQL__HOST", ["PostgreSQL", "Host"]),
    ("ORTHANC__HTTPS_CA_CERTIFICATES", ["HttpsCACertificates"]),  # env-var-non-standards.json
])
def test_variable_names_become_configuration_paths(name, path):
    assert GEN.Configurator(str(IMAGE)).json_path(name) == path


# --- reading, merging, environment, secrets -------------------------------------------------

def test_files_merge_dicts_and_replace_lists(image, capsys):
    (image["etc"] / "a.json").write_text(json.dumps({**USERS, "DicomWeb": {"Root": "/dw/"}, "LuaScripts": ["a"]}))
    (image["etc"] / "b.json").write_text(json.dumps({"DicomWeb": {"Ssl": True}, "LuaScripts": ["b"]}))
    status, config, _ = image["run_generator"]({}, capsys)
    assert status == 0
    assert config["DicomWeb"]["Root"] == "/dw/" and config["DicomWeb"]["Ssl"] is True
    assert config["LuaScripts"] in (["a"], ["b"])  # glob order decides, never both


def test_envsubst_runs_over_the_mounted_files(image, capsys):
    (image["etc"] / "orthanc.json").write_text(
        '{"RegisteredUsers": {"admin": "pa$SECRET-ss"}, "Name": "${SITE:-x}"}')
    status, config, _ = image["run_generator"]({"SITE": "north"}, capsys)
    assert status == 0
    assert config["RegisteredUsers"]["admin"] == "pa-ss"  # $SECRET silently gone
    assert config["Name"] == "north"


def test_environment_values_go_through_json_loads_and_win(image, capsys):
    (image["etc"] / "orthanc.json").write_text(json.dumps({**USERS, "StableAge": 60, "Name": "file"}))
    status, config, out = image["run_generator"](
        {"ORTHANC__STABLE_AGE": "30", "ORTHANC__NAME": "env", "ORTHANC__DICOM_WEB__ENABLE": "false",
         "ORTHANC_JSON": '{"ConcurrentJobs": 4}'}, capsys)
    assert status == 0
    assert config["StableAge"] == 30 and config["Name"] == "env" and config["ConcurrentJobs"] == 4
    assert config["DicomWeb"]["Enable"] is False
    assert "StableAge has already been defined in file:" in out


def test_secret_files_are_not_substituted(image, capsys):
    (image["etc"] / "orthanc.json").write_text("{}")
    (image["secrets"] / "ORTHANC__REGISTERED_USERS").write_text('{"admin": "a$HOME${HOME}"}\n')
    (image["secrets"] / "pg-pass").write_text('"12$x"\n')
    status, config, _ = image["run_generator"]({"HOME": "/root", "ORTHANC__POSTGRESQL__PASSWORD_SECRET": "pg-pass"},
                                               capsys)
    assert status == 0
    assert config["RegisteredUsers"] == {"admin": "a$HOME${HOME}"}
    assert config["PostgreSQL"]["Password"] == "12$x"


def test_image_defaults_fill_only_what_is_unset(image, capsys):
    (image["etc"] / "orthanc.json").write_text(json.dumps({**USERS, "StorageDirectory": "/data"}))
    status, config, _ = image["run_generator"]({}, capsys)
    assert status == 0
    assert config["StorageDirectory"] == "/data"
    assert config["Plugins"] == ["/run/orthanc/plugins", "/usr/share/orthanc/plugins"]
    assert config["HttpsCACertificates"] == "/etc/ssl/certs/ca-certificates.crt"
    assert config["RemoteAccessAllowed"] is True and config["AuthenticationEnabled"] is True


# --- plugins --------------------------------------------------------------------------------

def test_default_plugins_are_on_and_linked(image, capsys):
    (image["etc"] / "orthanc.json").write_text(json.dumps(USERS))
    status, config, _ = image["run_generator"]({}, capsys)
    assert status == 0
    assert sorted(p.name for p in image["plugins"].iterdir()) == ["libOrthancExplorer2.so", "libOrthancGdcm.so"]
    assert config["OrthancExplorer2"] == {"Enable": True, "IsDefaultOrthancUI": True}
    assert config["Gdcm"]["Throttling"] == 4
    assert os.path.samefile(image["plugins"] / "libOrthancGdcm.so", image["available"] / "libOrthancGdcm.so")


def test_a_section_enables_its_plugin_and_false_switches_one_off(image, capsys):
    (image["etc"] / "orthanc.json").write_text(json.dumps({**USERS, "DicomWeb": {"Root": "/dicom-web/"},
                                                           "PostgreSQL": {"Host": "db"}}))
    status, config, _ = image["run_generator"]({"GDCM_PLUGIN_ENABLED": "false"}, capsys)
    assert status == 0
    assert sorted(p.name for p in image["plugins"].iterdir()) == [
        "libOrthancDicomWeb.so", "libOrthancExplorer2.so",
        "libOrthancPostgreSQLIndex.so", "libOrthancPostgreSQLStorage.so"]
    assert config["DicomWeb"]["Enable"] is True  # the plugin's own default
    assert config["PostgreSQL"]["Host"] == "db" and config["PostgreSQL"]["Database"] == "postgres"
    assert "Gdcm" not in config


def test_run_orthanc_plugins_is_preferred_when_it_exists(image, capsys):
    image["run"].mkdir()
    (image["etc"] / "orthanc.json").write_text(json.dumps(USERS))
    status, _, _ = image["run_generator"]({"DICOM_WEB_PLUGIN_ENABLED": "true"}, capsys)
    assert status == 0
    assert (image["run"] / "libOrthancDicomWeb.so").exists()
    assert not list(image["plugins"].iterdir())


# --- exit codes -----------------------------------------------------------------------------

def test_a_plugin_the_image_lacks_fails_with_minus_one(image, capsys):
    (image["etc"] / "orthanc.json").write_text(json.dumps({**USERS, "AzureBlobStorage": {}}))
    status, _, out = image["run_generator"]({}, capsys)
    assert status == -1
    assert "ERROR: failed to install libOrthancAzureBlobStorage.so file" in out
    assert "ERROR: There were some errors while preparing the configuration file for Orthanc." in out
    assert not image["output"].exists()


def test_bad_orthanc_json_fails_with_minus_one(image, capsys):
    (image["etc"] / "orthanc.json").write_text(json.dumps(USERS))
    status, _, out = image["run_generator"]({"ORTHANC_JSON": "{not json"}, capsys)
    assert status == -1 and "Unable to parse the ORTHANC_JSON env-var" in out


@pytest.mark.parametrize("variable", ["DW_ENABLED", "NAME", "PG_PASSWORD"])
def test_legacy_variables_fail_with_minus_two(image, capsys, variable):
    (image["etc"] / "orthanc.json").write_text(json.dumps(USERS))
    status, _, out = image["run_generator"]({variable: "true"}, capsys)
    assert status == -2 and f"ERROR: ** {variable}" in out


def test_no_user_with_authentication_and_remote_access_fails_with_minus_three(image, capsys):
    (image["etc"] / "orthanc.json").write_text("{}")
    assert image["run_generator"]({}, capsys)[0] == -3
    status, config, _ = image["run_generator"]({"ORTHANC_PASSWORD": "pw"}, capsys)
    assert status == 0 and config["RegisteredUsers"] == {"orthanc": "pw"}


def test_an_unparseable_first_file_kills_the_generator(image, capsys):
    """generateConfiguration.py merges `configFromFile`, unbound when the first file fails."""
    (image["etc"] / "orthanc.json").write_text("{broken")
    with pytest.raises(NameError):
        image["run_generator"]({}, capsys)


def test_an_unparseable_later_file_merges_the_previous_one_again(image, capsys, monkeypatch):
    (image["etc"] / "a.json").write_text(json.dumps(USERS))
    (image["etc"] / "b.json").write_text("{broken")
    monkeypatch.setattr(GEN.glob, "glob", lambda p, _g=GEN.glob.glob: sorted(_g(p)))
    status, config, out = image["run_generator"]({}, capsys)
    assert status == 0 and config["RegisteredUsers"] == USERS["RegisteredUsers"]
    assert "Unable to parse Json file" in out and "b.json" in out


# --- what the role renders, through the generator ---------------------------------------------

SECRET = "Cont$HOME-${HOME}-'q\"-\\x\\$y-é-密-$1-${PP_NOPE:-d}"


def orthanc_substitution(text, environ):
    """Orthanc's own step before parsing a configuration file (Toolbox::SubstituteVariables,
    Orthanc 1.5.0+): each ${NAME} replaced by the variable's value, unknown ones by nothing,
    the inserted text not scanned again. Observed on Orthanc 1.10.1 and 1.12.7."""
    return re.sub(r"\$\{([^}]*)\}", lambda m: environ.get(m.group(1), ""), text)


def role_rendering(config):
    """The text roles/orthanc/templates/orthanc.json.j2 writes for the container method."""
    encoded = F["orthanc_container_encode"](config, "PACS_PROVISIONER_DOLLAR")
    return json.dumps(encoded, indent=2, ensure_ascii=False).replace("$", "\\u0024")


def test_the_role_rendering_carries_every_character_to_orthanc(image, capsys):
    config = {"RegisteredUsers": {"admin": SECRET, "pay$user": "plain"}, "Name": "$ite ${HOME}"}
    (image["etc"] / "orthanc.json").write_text("// managed\n" + role_rendering(config), encoding="utf-8")
    environ = {"HOME": "/root", "PACS_PROVISIONER_DOLLAR": "$"}
    status, _, _ = image["run_generator"](environ, capsys)
    assert status == 0
    seen_by_orthanc = json.loads(orthanc_substitution(image["output"].read_text(encoding="utf-8"), environ))
    assert seen_by_orthanc["RegisteredUsers"] == config["RegisteredUsers"]
    assert seen_by_orthanc["Name"] == config["Name"]


def test_without_the_encoding_the_secret_is_changed(image, capsys):
    """The failure the role avoids: the same secret written plainly."""
    (image["etc"] / "orthanc.json").write_text(json.dumps({"RegisteredUsers": {"admin": SECRET}}))
    environ = {"HOME": "/root"}
    status, _, _ = image["run_generator"](environ, capsys)
    assert status == 0
    seen = json.loads(orthanc_substitution(image["output"].read_text(encoding="utf-8"), environ))
    assert seen["RegisteredUsers"]["admin"] != SECRET
