"""The firewall with the front door on, as an administrator reads it on the PACS host: the
HTTPS port (and port 80, which redirects) in the place of Orthanc's HTTP port in the http
sets, Orthanc's own port refused to every host but loopback."""

import re

testinfra_hosts = ["pp-https-pacs"]


def _chain(host):
    ruleset = host.check_output("nft list chain inet pacs_provisioner input")
    return [line.strip() for line in ruleset.splitlines()]


def test_https_ports_take_the_place_of_orthancs_http_port(host):
    rules = _chain(host)
    for family, address in (("ip", "ipv4"), ("ip6", "ipv6")):
        pattern = re.compile(r"^tcp dport \{ (80, 443|443, 80) \} %s saddr @http_%s accept$" % (family, address))
        assert [r for r in rules if pattern.match(r)], rules
    assert "172.28.90.0/24" in host.check_output("nft list set inet pacs_provisioner http_ipv4")
    assert not [r for r in rules if "8042" in r and "accept" in r]


def test_orthancs_http_port_is_refused_but_to_loopback(host):
    rules = _chain(host)
    loopback = rules.index('iifname "lo" accept')
    reject = next(i for i, r in enumerate(rules) if r.startswith("tcp dport 8042") and "reject with tcp reset" in r)
    assert loopback < reject
    # nginx (loopback) still reaches Orthanc through it.
    assert host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8042/system").stdout == "401"
