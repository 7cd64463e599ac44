"""The front door's upstream of several Orthanc nodes: roles/pacs_https/templates/pacs-https.conf.j2
rendered by Ansible's Templar with the role's defaults (nginx itself checks the file in molecule:
the template's validate: runs nginx -t, and the scaleout scenario load-balances two real nodes)."""

import pathlib
import re

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

import filter_plugins_loader  # noqa: F401  pylint: disable=unused-import

ROLE = pathlib.Path(__file__).resolve().parents[2] / "roles" / "pacs_https"
TWO = [{"host": "10.0.0.10", "port": 8042}, {"host": "10.0.0.11", "port": "8042"}]


def render(**overrides):
    """The site file for the role's plain defaults, the given overrides and fixed internal paths."""
    variables = {k: v for k, v in yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()).items()
                 if not (isinstance(v, str) and "{{" in v)}
    variables.update({
        "ansible_managed": "Ansible managed: test",
        "pacs_https_server_name": "pacs.example.org",
        "pacs_https_upstreams": [{"host": "127.0.0.1", "port": 8042}],
        "__pacs_https_certificate_file": "/etc/nginx/pacs-https/server.crt",
        "__pacs_https_private_key_file": "/etc/nginx/pacs-https/server.key",
        "__pacs_https_client_ca_file": "/etc/nginx/pacs-https/client-ca.crt",
        "__pacs_https_port_suffix": "",
        "__pacs_https_generation": "0123abcd",
    })
    variables.update(overrides)
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template((ROLE / "templates" / "pacs-https.conf.j2").read_text()),
                            escape_backslashes=False)  # as the template action renders a file


def directives(text):
    """The file's directives, one per entry, comments and blank lines left out."""
    lines = [line.split("#", 1)[0].strip() if not line.strip().startswith("#") else "" for line in text.splitlines()]
    joined = " ".join(line for line in lines if line)
    return [d.strip() for d in re.split(r"(?<=[;{}])", joined) if d.strip()]


def upstream_servers(text):
    block = text.split("upstream pacs_https_orthanc {", 1)[1].split("}", 1)[0]
    return [d for d in directives(block) if d.startswith("server ")] + \
        [d for d in directives(block) if d.startswith("keepalive ")]


def test_several_nodes_are_balanced_with_passive_health_checks_and_a_last_resort():
    assert upstream_servers(render(pacs_https_upstreams=TWO)) == [
        "server 10.0.0.10:8042 max_fails=1 fail_timeout=2s;",
        "server 10.0.0.11:8042 max_fails=1 fail_timeout=2s;",
        "server 10.0.0.10:8042 backup max_fails=0;",
        "server 10.0.0.11:8042 backup max_fails=0;",
        "keepalive 16;",
    ]


def test_the_health_check_settings_are_the_inventorys():
    servers = upstream_servers(render(pacs_https_upstreams=TWO, pacs_https_upstream_max_fails=3,
                                      pacs_https_upstream_fail_timeout=10, pacs_https_upstream_keepalive=4,
                                      pacs_https_upstream_last_resort=False))
    assert servers == ["server 10.0.0.10:8042 max_fails=3 fail_timeout=10s;",
                       "server 10.0.0.11:8042 max_fails=3 fail_timeout=10s;", "keepalive 4;"]


def test_one_node_has_no_last_resort():
    assert upstream_servers(render()) == ["server 127.0.0.1:8042 max_fails=1 fail_timeout=2s;", "keepalive 16;"]


def test_weights_and_backups_are_kept_and_a_backup_is_not_listed_twice():
    nodes = [{"host": "a.example.org", "port": 8042, "weight": 3}, {"host": "b.example.org", "port": 8042, "backup": False},
             {"host": "c.example.org", "port": 8042, "backup": True}]
    assert upstream_servers(render(pacs_https_upstreams=nodes)) == [
        "server a.example.org:8042 max_fails=1 fail_timeout=2s weight=3;",
        "server b.example.org:8042 max_fails=1 fail_timeout=2s;",
        "server c.example.org:8042 max_fails=1 fail_timeout=2s backup;",
        "server a.example.org:8042 backup max_fails=0;",
        "server b.example.org:8042 backup max_fails=0;",
        "keepalive 16;",
    ]


@pytest.mark.parametrize("host", ["2001:db8::5", "[2001:db8::5]"])
def test_an_ipv6_node_is_written_in_brackets(host):
    assert upstream_servers(render(pacs_https_upstreams=[{"host": host, "port": 8042}]))[0] == \
        "server [2001:db8::5]:8042 max_fails=1 fail_timeout=2s;"


def test_a_failed_node_passes_idempotent_requests_on_but_never_a_sent_post():
    found = directives(render(pacs_https_upstreams=TWO, pacs_https_next_upstream_tries=2,
                              pacs_https_next_upstream_timeout=20))
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in found
    assert "proxy_next_upstream_tries 2;" in found and "proxy_next_upstream_timeout 20s;" in found
    # non_idempotent would let nginx send a STOW-RS that reached one node to another as well.
    assert not [d for d in found if "non_idempotent" in d]
    # Keep-alive connections to the nodes need HTTP/1.1 without "Connection: close".
    assert "proxy_http_version 1.1;" in found and 'proxy_set_header Connection "";' in found
    assert [d for d in found if d.startswith("proxy_pass ")] == ["proxy_pass http://pacs_https_orthanc;"]


def test_the_access_log_names_every_node_tried():
    text = render(pacs_https_upstreams=TWO)
    log_format = next(d for d in directives(text) if d.startswith("log_format "))
    assert log_format.startswith("log_format pacs_https_upstream ")
    assert 'upstream="$upstream_addr"' in log_format and 'upstream_status="$upstream_status"' in log_format
    https_server = text.split("ssl default_server;", 1)[1]
    assert "access_log /var/log/nginx/pacs-https.access.log pacs_https_upstream;" in directives(https_server)
