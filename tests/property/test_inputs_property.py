"""Property: every inventory value is refused naming its variable, or rendered so it arrives exactly.

Hypothesis generates values across the classes of issue 18: names that become syntax,
URLs, unicode and control characters, numbers at the edges, YAML types JSON cannot hold,
header names and values, manufacturers in any case, and addresses of the PACS itself.
Each value goes through the preflight filters; when they accept it, the files it reaches
are rendered with the roles' real templates (Ansible's Templar and the project's filter
plugins) and read back by a strict parser of that file's syntax:

- orthanc.json: strict JSON (no NaN/Infinity) holding the exact values;
- the webhook Lua script: loaded and run by Lua (lua5.3, the version Debian's Orthanc
  links, when installed), which must hand HttpPost the exact bytes;
- the nftables ruleset: `nft -c` when it can run here, and the table name as one token;
- the firewalld policy: parsed as XML, holding the name and only the rules we wrote, with
  a file name inside the policies folder;
- the nginx site of the HTTPS front door: server names and ciphers, written unquoted,
  come out as exactly the tokens given (nginx itself is not installed on the controller).

Bounded: a few dozen examples per property, no deadline (Lua and nft are subprocesses).
The seed is printed on failure (tests/property/conftest.py).
"""

from __future__ import annotations

import datetime
import functools
import json
import pathlib
import posixpath
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orthanc import MANUFACTURERS
from orthanc import FilterModule as OrthancFilters
from pacs_firewall import FilterModule as FirewallFilters
from pacs_model import pacs_dependent_modalities
from xnat_dqr import FilterModule as XnatFilters

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORTHANC = OrthancFilters().filters()
FIREWALL = FirewallFilters().filters()
XNAT = XnatFilters().filters()

PROPERTY = settings(max_examples=100, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

OWN_ADDRESS = "10.20.0.5"
OWN_NAME = "pacs1.example.org"
DICOM_PORT, HTTP_PORT = 4242, 8042

# Characters that have broken a rendered file somewhere: syntax of JSON, Lua, nft, XML,
# URLs and HTTP, whitespace and control characters, non-ASCII, a lone surrogate.
TRICKY = list("./?#%;{}[]<>\"'&\\ \t\n\r\x00\x1b\x7f\x85\u2028-_:@=$`*|~!") + [
    "\u00e9", "\u2192", "\U0001f642", "\ud800", "..", "]]", "--[[", "\\u00e9", "${X}"]


def tricky_text(max_size=20):
    """Text mixing plain identifier characters with the characters above."""
    return st.lists(st.one_of(st.sampled_from(TRICKY), st.characters(min_codepoint=0x30, max_codepoint=0x7a),
                              st.characters(blacklist_categories=("Cs",))),
                    max_size=max_size).map("".join)


VALID_NAMES = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z")
NAMES = st.one_of(VALID_NAMES, st.from_regex(r"\A[A-Za-z][A-Za-z0-9_-]{0,18}\Z"),
                  st.sampled_from(["CT_ROOM1", "a.b-c_d", ".", "..", "...", "a/b", "a b", "x?y", "x#y", "%2e",
                                   "\u00e9", "A" * 64, "A" * 65, "", "-", "_", "pacs_provisioner",
                                   "pacs-provisioner", "accept", "counter", "public", "x" * 17, "x" * 18]),
                  tricky_text(70))

# URLs: well-formed ones with any path, query and fragment characters a URL may hold
# (so that many are accepted and rendered), and malformed or hostile ones.
URL_PATH = st.text(alphabet="abcXYZ019-._~!$&'()*+,;=:@%/?#", max_size=24)
GOOD_HOSTS = st.sampled_from(["pacs2.example.org", "10.20.0.7", "[2001:db8::7]", "xn--hpital-bva.example",
                              "dicomweb.example.org", OWN_ADDRESS, OWN_NAME, "localhost", "127.0.0.1"])
GOOD_PORTS = st.sampled_from(["", ":1", ":443", ":8042", ":4242", ":65535"])
VALID_URLS = st.builds("{}{}{}/{}".format, st.sampled_from(["http://", "https://"]), GOOD_HOSTS, GOOD_PORTS,
                       URL_PATH)
URLS = st.one_of(
    VALID_URLS, VALID_URLS,
    st.builds("{}{}{}{}/{}".format,
              st.sampled_from(["http://", "https://", "HTTP://", "Https://", "ftp://", "", "http:/"]),
              st.sampled_from(["", "user:secret@", "user@", ":@", "user:se/cret@"]),
              st.one_of(GOOD_HOSTS, st.sampled_from(["h\u00f4pital.example", "h\nx", "", "a b"]),
                        tricky_text(12)),
              st.sampled_from(["", ":8042", ":0", ":1", ":65535", ":65536", ":-1", ":abc", ":4242"]),
              tricky_text(20)),
    tricky_text(40))

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**64, 1e308, -1e-308, 5e-324, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True), tricky_text(12),
    st.binary(max_size=4), st.dates(), st.datetimes(), st.sets(st.integers(0, 3), max_size=2))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(tricky_text(6), st.integers(0, 2)), inner, max_size=3)),
    max_leaves=6)
EXTRA_KEYS = st.one_of(st.sampled_from(["HttpTimeout", "Worklists", "LimitFindResults", "limitfindresults",
                                        "dicomweb", "DicomAet", "MaximumStorageSize"]),
                       tricky_text(10), st.integers(0, 2))
EXTRA_CONFIG = st.one_of(
    st.dictionaries(EXTRA_KEYS, JSON_VALUES, max_size=3),
    st.dictionaries(st.sampled_from(["DicomWeb"]),
                    st.dictionaries(st.sampled_from(["servers", "Servers", "root", "MetadataWorkerThreadsCount",
                                                     "EnableMetadataCache"]), JSON_VALUES, max_size=2),
                    max_size=1))

PORTS = st.one_of(st.sampled_from([DICOM_PORT, HTTP_PORT, 104, 0, 1, 65535, 65536, -1, "104", 104.0, True, None]),
                  st.integers(min_value=-(2**64), max_value=2**64))
HOSTS = st.one_of(st.sampled_from([OWN_ADDRESS, OWN_NAME, OWN_NAME.upper() + ".", "127.0.0.1", "127.1.2.3",
                                   "localhost", "LocalHost", "::1", "0.0.0.0", "10.20.0.11", "ws1.example.org"]),
                  tricky_text(15))
HEADER_NAMES = st.one_of(st.from_regex(r"\A[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}\Z"),
                        st.sampled_from(["X-Source", "x-source", "Content-Type", "Bad Name", "X:Y"]), tricky_text(8))
HEADER_VALUES = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=15),
                          tricky_text(15), st.integers(), st.none())
HEADERS = st.one_of(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
                    st.dictionaries(st.from_regex(r"\AX-[A-Za-z0-9-]{1,8}\Z"),
                                    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=15),
                                    max_size=3))


def valid_settings(**overrides):
    """The orthanc role's settings of a valid host, with overrides."""
    settings_ = {
        "orthanc_dicom_aet": "GH_PACS", "orthanc_dicom_port": DICOM_PORT, "orthanc_http_port": HTTP_PORT,
        "orthanc_install_method": "package", "orthanc_database": "sqlite",
        "orthanc_users": [{"name": "admin", "password": "S3cure-Enough"}],
        "orthanc_authentication_enabled": True,
        "orthanc_modalities": [{"name": "CT_ROOM1", "aet": "CT1", "host": "10.20.0.11", "port": 104}],
        "orthanc_dependent_modalities": [],
        "orthanc_peers": [{"name": "backup", "url": "https://pacs2.example.org:8042/",
                           "username": "peer", "password": "Peer-Pass-1"}],
        "orthanc_dicomweb_servers": [{"name": "research", "url": "https://dicomweb.example.org/dicom-web/",
                                      "username": "svc", "password": "Svc-Pass-12"}],
        "orthanc_webhook_url": "", "orthanc_webhook_headers": {}, "orthanc_lua_scripts": [],
        "orthanc_extra_config": {}, "orthanc_address": OWN_ADDRESS, "ansible_host": OWN_NAME,
    }
    settings_.update(overrides)
    return settings_


def assert_refused_by_name(errors, *variables):
    """Every error names one of the variables it concerns, and at least one error exists."""
    assert errors, "accepted, but expected a refusal naming %s" % (variables,)
    event("refused")
    for error in errors:
        assert error.startswith(variables), "%r does not name %s" % (error, variables)


# --- Rendering with the roles' real templates -----------------------------------------------

@functools.lru_cache(maxsize=None)
def _templar():
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.plugins.loader import filter_loader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar  # pylint: disable=import-outside-toplevel

    filter_loader.add_directory(str(ROOT / "filter_plugins"))
    return Templar(loader=DataLoader(), variables={})


def render(template, **variables):
    """One of the roles' templates rendered by Ansible's Templar with these variables."""
    event("rendered %s" % pathlib.PurePath(template).name)
    from ansible.template import trust_as_template  # pylint: disable=import-outside-toplevel

    templar = _templar()
    templar.available_variables = {"ansible_managed": "Ansible managed: test", **variables}
    # as the template action renders a file: backslashes in the file are not escapes of a YAML string
    return templar.template(trust_as_template((ROOT / "roles" / template).read_text()), escape_backslashes=False)


def strict_json(text):
    """Parse an orthanc.json like Orthanc: // comment lines allowed, NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError("not JSON: %s" % constant)
    body = "".join(line for line in text.splitlines(True) if not line.lstrip().startswith("//"))
    return json.loads(body, parse_constant=refuse)


def render_orthanc_json(settings_):
    """orthanc.json as the role builds it: the filters, then orthanc_extra_config merged last."""
    from ansible.template import trust_as_template  # pylint: disable=import-outside-toplevel

    base = {
        "DicomAet": settings_["orthanc_dicom_aet"],
        "DicomModalities": ORTHANC["orthanc_modalities"](settings_["orthanc_modalities"]
                                                         + settings_["orthanc_dependent_modalities"]),
        "OrthancPeers": ORTHANC["orthanc_peers"](settings_["orthanc_peers"]),
        "DicomWeb": {"Enable": True, "Servers": ORTHANC["orthanc_dicomweb_servers"](
            settings_["orthanc_dicomweb_servers"])},
    }
    return strict_json(render("orthanc/templates/orthanc.json.j2", __orthanc_config_base=base, __orthanc_is_container=False,
                              orthanc_extra_config=settings_["orthanc_extra_config"],
                              __orthanc_rendered=trust_as_template(
                                  "{{ __orthanc_config_base | combine(orthanc_extra_config, recursive=True) }}")))


LUA = shutil.which("lua5.3") or shutil.which("lua")
LUA_HARNESS = r"""
local seen = {}
function DumpJson(value, keep) seen.orthanc = value.orthanc; return '{}' end
function HttpPost(url, body, headers) seen.url = url; seen.headers = headers end
dofile(arg[1])
OnStoredInstance('id', {}, {}, {})
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end
print('aet ' .. hex(seen.orthanc))
print('url ' .. hex(seen.url))
local names = {}
for name in pairs(seen.headers) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do print('header ' .. hex(name) .. ' ' .. hex(seen.headers[name])) end
"""


def lua_values(script):
    """Run the rendered webhook in Lua; the AE title, URL and headers HttpPost received, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder)
        (path / "webhook.lua").write_text(script, encoding="utf-8")
        (path / "harness.lua").write_text(LUA_HARNESS)
        run = subprocess.run([LUA, str(path / "harness.lua"), str(path / "webhook.lua")],
                             capture_output=True, text=True, check=False, timeout=20)
    assert run.returncode == 0, "Lua cannot load the webhook:\n%s\n%s" % (run.stderr, script)
    values = {"headers": {}}
    for line in run.stdout.splitlines():
        kind, *fields = line.split(" ")
        data = [bytes.fromhex(f) for f in fields]
        if kind == "header":
            values["headers"][data[0]] = data[1]
        else:
            values[kind] = data[0] if data else b""
    return values


@functools.lru_cache(maxsize=None)
def nft_checks():
    """True when `nft -c` can check a ruleset here (nftables installed, allowed to ask the kernel)."""
    if not shutil.which("nft"):
        return False
    return nft_accepts("table inet pacs_probe {\n}\n")


def nft_accepts(ruleset):
    """Whether `nft -c -f` accepts the ruleset; with the error when not."""
    with tempfile.NamedTemporaryFile("w", suffix=".nft", encoding="utf-8") as handle:
        handle.write(ruleset)
        handle.flush()
        run = subprocess.run(["nft", "-c", "-f", handle.name], capture_output=True, text=True, check=False,
                             timeout=20)
    return run.returncode == 0 or run.stderr


def firewall_config(**overrides):
    """The pacs_firewall role's inputs of a valid host, with overrides."""
    data = {"orthanc_dicom_port": DICOM_PORT, "orthanc_http_port": HTTP_PORT, "pacs_firewall_ssh_port": 22,
            "pacs_firewall_backend": "auto", "pacs_firewall_admin_cidrs": ["192.0.2.0/28"],
            "pacs_firewall_http_cidrs": [], "pacs_firewall_dicom_cidrs": [],
            "pacs_firewall_allow_any_dicom_source_i_know_this_is_unsafe": False,
            "orthanc_modalities": [{"name": "CT1", "aet": "CT1", "host": "198.51.100.11", "port": 104}],
            "orthanc_dependent_modalities": [], "xnat_dqr_servers": [], "orthanc_peers": [],
            "pacs_firewall_nft_table": "pacs_provisioner", "pacs_firewall_firewalld_policy": "pacs-provisioner"}
    data.update(overrides)
    return data


# --- Properties ---------------------------------------------------------------------------------

@PROPERTY
@given(field=st.sampled_from(["name", "host", "manufacturer", "aet"]), value=st.one_of(NAMES, HOSTS),
       manufacturer=st.one_of(st.sampled_from(MANUFACTURERS), st.sampled_from(MANUFACTURERS).map(str.lower),
                              st.sampled_from(MANUFACTURERS).map(str.upper), tricky_text(10)),
       port=PORTS)
def test_modality_is_refused_by_name_or_arrives_exactly(field, value, manufacturer, port):
    modality = {"name": "US1", "aet": "US1", "host": "10.20.0.12", "port": 104, "manufacturer": manufacturer}
    modality[field] = value if field != "manufacturer" else manufacturer
    modality["port"] = port
    settings_ = valid_settings(orthanc_modalities=[modality])
    errors = ORTHANC["orthanc_config_errors"](settings_)
    if errors:
        assert_refused_by_name(errors, "orthanc_modalities")
        return
    assert modality["manufacturer"] in MANUFACTURERS
    assert modality["name"] not in (".", "..") and "/" not in modality["name"]
    assert port not in (DICOM_PORT, HTTP_PORT) or (modality["host"].strip(".").lower() not in (
        OWN_ADDRESS, OWN_NAME, "localhost", "127.0.0.1", "::1"))
    rendered = render_orthanc_json(settings_)["DicomModalities"][modality["name"]]
    assert rendered["AET"] == modality["aet"] and rendered["Host"] == modality["host"]
    assert rendered["Port"] == int(port) and rendered["Manufacturer"] == modality["manufacturer"]


@PROPERTY
@given(kind=st.sampled_from(["orthanc_peers", "orthanc_dicomweb_servers"]), name=NAMES, url=URLS, headers=HEADERS)
def test_http_remote_is_refused_by_name_or_arrives_exactly(kind, name, url, headers):
    remote = {"name": name, "url": url, "username": "svc", "password": "Svc-Pass-12", "http_headers": headers}
    settings_ = valid_settings(**{kind: [remote]})
    errors = ORTHANC["orthanc_config_errors"](settings_)
    if errors:
        assert_refused_by_name(errors, kind)
        for error in errors:
            assert "secret" not in error, "a credential in a message: %r" % error
        return
    assert url.isascii() and url.startswith(("http://", "https://")) and "@" not in url.split("/")[2]
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in url + "".join(headers.values()))
    parsed = render_orthanc_json(settings_)
    section = parsed["OrthancPeers"] if kind == "orthanc_peers" else parsed["DicomWeb"]["Servers"]
    assert section[name]["Url"] == url
    assert section[name].get("HttpHeaders", {}) == headers


@PROPERTY
@given(extra=EXTRA_CONFIG)
def test_extra_config_is_refused_by_name_or_arrives_exactly(extra):
    settings_ = valid_settings(orthanc_extra_config=extra)
    errors = ORTHANC["orthanc_config_errors"](settings_)
    if errors:
        assert_refused_by_name(errors, "orthanc_extra_config")
        return
    parsed = render_orthanc_json(settings_)
    for key, value in extra.items():
        if key == "DicomWeb":
            for inner, inner_value in value.items():
                assert parsed["DicomWeb"][inner] == inner_value
        else:
            assert parsed[key] == value


@PROPERTY
@given(url=URLS, headers=HEADERS,
       aet=st.one_of(st.sampled_from(["GH_PACS", 'A"B', "A'B", "A]]B", "A--B", "A\\B"]), tricky_text(16),
                     st.from_regex(r"\A[ -~]{1,16}\Z")))
def test_webhook_is_refused_by_name_or_loads_in_lua_with_the_exact_bytes(url, headers, aet):
    settings_ = valid_settings(orthanc_webhook_url=url, orthanc_webhook_headers=headers, orthanc_dicom_aet=aet)
    errors = ORTHANC["orthanc_config_errors"](settings_)
    if errors:
        assert_refused_by_name(errors, "orthanc_webhook_url", "orthanc_webhook_headers", "orthanc_dicom_aet",
                               "orthanc_modalities")  # an AE title may also collide with a modality's
        return
    script = render("orthanc/templates/webhook.lua.j2", orthanc_dicom_aet=aet, orthanc_webhook_url=url,
                    orthanc_webhook_headers=headers)
    assert "\\u" not in script.split("function OnStoredInstance", 1)[1]
    assert LUA is not None, "no Lua interpreter here: scripts/bootstrap.sh installs lua5.3"
    values = lua_values(script)
    assert values["url"] == url.encode("utf-8")
    assert values["aet"] == aet.encode("utf-8")
    expected = {b"Content-Type": b"application/json"}
    expected.update({k.encode("utf-8"): v.encode("utf-8") for k, v in headers.items()})
    assert values["headers"] == expected


@PROPERTY
@given(table=NAMES, policy=NAMES, sources=st.lists(st.sampled_from(["198.51.100.11", "2001:db8::5",
                                                                    "203.0.113.0/24"]), max_size=3))
def test_firewall_names_are_refused_by_name_or_render_as_one_token(table, policy, sources):
    data = firewall_config(pacs_firewall_nft_table=table, pacs_firewall_firewalld_policy=policy,
                           pacs_firewall_dicom_cidrs=sources)
    errors = FIREWALL["pacs_firewall_errors"](data)
    names = [e for e in errors if e.startswith(("pacs_firewall_nft_table", "pacs_firewall_firewalld_policy"))]
    assert names == errors, errors
    sets = FIREWALL["pacs_firewall_sources"](data)
    config = {k: data[k] for k in ("orthanc_dicom_port", "orthanc_http_port", "pacs_firewall_ssh_port")}
    if not any(e.startswith("pacs_firewall_nft_table") for e in errors):
        ruleset = render("pacs_firewall/templates/pacs_provisioner.nft.j2", pacs_firewall_nft_table=table,
                         __pacs_firewall_config=config, pacs_firewall_sources=sets)
        assert [line.split() for line in ruleset.splitlines() if line.startswith(("table ", "delete "))] == [
            ["table", "inet", table], ["delete", "table", "inet", table], ["table", "inet", table, "{"]]
        assert nft_checks() is True, "nft -c cannot run here: scripts/bootstrap.sh installs nftables"
        assert nft_accepts(ruleset) is True, nft_accepts(ruleset)
    if not any(e.startswith("pacs_firewall_firewalld_policy") for e in errors):
        assert len(policy) <= 17
        path = "/etc/firewalld/policies/%s.xml" % policy
        assert posixpath.dirname(posixpath.normpath(path)) == "/etc/firewalld/policies"
        xml = render("pacs_firewall/templates/pacs-provisioner-policy.xml.j2", pacs_firewall_firewalld_policy=policy,
                     __pacs_firewall_config=config, pacs_firewall_sources=sets)
        root = ET.fromstring(xml.encode("utf-8"))
        assert root.tag == "policy" and root.findtext("short") == policy
        rules = root.findall("rule")
        accepted = sum(len(sets[svc][family]) for svc in sets for family in ("ipv4", "ipv6"))
        assert len(rules) == accepted + 3
        assert len(root.findall("rule/accept")) == accepted and len(root.findall("rule/drop")) == 3


@PROPERTY
@given(name=NAMES, url=URLS, host=HOSTS, port=st.one_of(PORTS, st.integers(1, 65535)))
def test_xnat_server_is_refused_by_name_or_is_a_valid_modality(name, url, host, port):
    server = {"name": name, "url": url, "username": "admin", "password": "Xnat-Pass-1",
              "receiver": {"aet": "XNAT_A", "host": host, "port": port}}
    xnat_errors = XNAT["xnat_dqr_errors"]([server], orthanc_dicom_aet="GH_PACS")
    if xnat_errors:
        assert_refused_by_name(xnat_errors, "xnat_dqr_servers")
        return
    assert url.isascii() and not any(ord(c) < 0x20 for c in url) and url.startswith(("http://", "https://"))
    dependent = pacs_dependent_modalities([server])
    errors = ORTHANC["orthanc_config_errors"](valid_settings(orthanc_dependent_modalities=dependent))
    if errors:  # the receiver's host and port are the orthanc filter's to judge (self-reference included)
        assert_refused_by_name(errors, "orthanc_dependent_modalities")
        assert not any("REST path" in e for e in errors), errors  # xnat_dqr_errors judged the name
        return
    assert render_orthanc_json(valid_settings(orthanc_dependent_modalities=dependent))[
        "DicomModalities"][name]["Host"] == host


@PROPERTY
@given(value=st.one_of(st.binary(max_size=4), st.sets(st.integers(0, 3), max_size=2), st.dates(),
                       st.datetimes(), st.just(float("inf")), st.just(float("nan"))),
       variable=st.sampled_from(["orthanc_extra_config", "orthanc_webhook_headers", "orthanc_peers"]))
def test_yaml_types_json_cannot_hold_are_refused_by_name(value, variable):
    placed = {"orthanc_extra_config": {"HttpTimeout": value},
              "orthanc_webhook_headers": {"X-Source": value},
              "orthanc_peers": [{"name": "backup", "url": "https://pacs2.example.org:8042/", "timeout": 5,
                                 "http_headers": {"X-Source": value}}]}[variable]
    assert_refused_by_name(ORTHANC["orthanc_config_errors"](valid_settings(**{variable: placed})), variable)


def test_a_date_is_reported_as_a_date():
    errors = ORTHANC["orthanc_config_errors"](valid_settings(orthanc_extra_config={"X": datetime.date(2024, 1, 2)}))
    assert errors == ["orthanc_extra_config[X]: is a date (2024-01-02); YAML read it as a date: quote it to "
                      "keep it text, as Orthanc reads it"]


# --- nginx (the HTTPS front door): names and ciphers are written unquoted -----------------

def _nginx_settings(**overrides):
    """The pacs_https role's defaults (its one source) with these values over them."""
    import yaml  # pylint: disable=import-outside-toplevel
    defaults = yaml.safe_load((ROOT / "roles" / "pacs_https" / "defaults" / "main.yml").read_text())
    defaults.update(pacs_https_server_name="pacs.example.org", pacs_https_upstreams=[{"host": "127.0.0.1",
                                                                                      "port": 8042}])
    defaults.update(overrides)
    return defaults


def _nginx_directive(config, name):
    """The arguments of every `name ...;` line of a rendered nginx configuration."""
    return [line.strip()[len(name):].rstrip(";").split() for line in config.splitlines()
            if line.strip().startswith(name + " ")]


@PROPERTY
@given(alias=st.one_of(NAMES, HOSTS), cipher=st.one_of(st.sampled_from(["ECDHE-RSA-AES128-GCM-SHA256", "HIGH",
                                                                         "!aNULL"]), tricky_text(30)))
def test_nginx_names_and_ciphers_are_refused_by_name_or_render_as_tokens(alias, cipher):
    from pacs_tls import FilterModule as TlsFilters  # pylint: disable=import-outside-toplevel
    values = _nginx_settings(pacs_https_server_aliases=[alias], pacs_https_ciphers=[cipher])
    syntax = [e for e in TlsFilters().filters()["pacs_tls_errors"](values)
              if e.startswith(("pacs_https_server_aliases", "pacs_https_ciphers"))]
    if syntax:
        assert_refused_by_name(syntax, "pacs_https_server_aliases", "pacs_https_ciphers")
        return
    config = render("pacs_https/templates/pacs-https.conf.j2", **values, __pacs_https_generation="g",
                    __pacs_https_port_suffix="", __pacs_https_certificate_file="/c.pem",
                    __pacs_https_private_key_file="/k.pem", __pacs_https_client_ca_file="/ca.pem")
    assert _nginx_directive(config, "server_name")[-1] == ["pacs.example.org", alias]
    assert _nginx_directive(config, "ssl_ciphers") == [[cipher]]
    assert all(";" not in arg and "{" not in arg for args in _nginx_directive(config, "server_name") for arg in args)
