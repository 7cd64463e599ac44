"""The firewalld policy checker (roles/pacs_firewall/files/pacs-firewalld-policy-check.py).

Its pure functions are tested here directly; the whole script is run as the template task
runs it on a firewalld host: Debian's python3 with Debian's firewalld Python package
(python3-firewall, installed by scripts/bootstrap.sh), on policies shaped like the role's
template, so firewalld's own reader decides.
"""

import importlib.util
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "pacs_firewall", "files", "pacs-firewalld-policy-check.py")
# The interpreter the role uses on a Debian firewalld host; the firewall package lives in its
# dist-packages, not in the virtualenv.
HOST_PYTHON = "/usr/bin/python3"

_SPEC = importlib.util.spec_from_file_location("pacs_firewalld_policy_check", SCRIPT)
CHECK = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(CHECK)

GOOD_RULES = [
    '<rule family="ipv4"><source address="172.28.30.0/24"/><port port="4242" protocol="tcp"/><accept/></rule>',
    '<rule family="ipv6"><source address="fd00:28:30::/64"/><port port="4242" protocol="tcp"/><accept/></rule>',
    '<rule priority="32767"><port port="4242" protocol="tcp"/><drop/></rule>',
    '<rule family="ipv4"><source address="10.0.0.5"/><port port="8042" protocol="tcp"/><accept/></rule>',
    '<rule priority="32767"><port port="8042" protocol="tcp"/><drop/></rule>',
]


def policy(rules):
    """A policy file as the role's template writes it (pacs-provisioner-policy.xml.j2)."""
    return "\n".join([
        '<?xml version="1.0" encoding="utf-8"?>',
        "<!-- Ansible managed -->",
        '<policy target="CONTINUE" priority="-100">',
        "  <short>pacs-provisioner</short>",
        "  <description>PACS ports of pacs-provisioner: DICOM 4242, HTTP 8042</description>",
        '  <ingress-zone name="ANY"/>',
        '  <egress-zone name="HOST"/>',
        "  <!-- dicom port 4242 -->",
    ] + ["  " + rule for rule in rules] + ["</policy>", ""])


def run_script(tmp_path, text):
    """Run the checker as the template task does: python3 SCRIPT <candidate without .xml>."""
    candidate = tmp_path / "tmpXyz123"  # Ansible's candidate file has no .xml suffix
    candidate.write_text(text, encoding="utf-8")
    return subprocess.run([HOST_PYTHON, SCRIPT, str(candidate)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_count_rules_counts_only_the_policys_own_rules():
    text = policy(GOOD_RULES)
    assert CHECK.count_rules(text) == 5
    assert CHECK.count_rules(text.encode("utf-8")) == 5
    assert CHECK.count_rules(policy([])) == 0


@pytest.mark.parametrize("rules, kept, message", [
    (5, 5, None),
    (0, 0, None),
    (5, 4, "firewalld refuses 1 of the 5 rules"),
    (3, 0, "firewalld refuses 3 of the 3 rules"),
])
def test_verdict(rules, kept, message):
    assert CHECK.verdict(rules, kept) == message


def test_main_needs_exactly_one_file():
    assert CHECK.main(["check"]).startswith("usage:")


def test_host_python_has_firewalld_reader():
    """The real reader must be there: without it every other test here proves nothing."""
    proc = subprocess.run([HOST_PYTHON, "-c", "from firewall.core.io.policy import policy_reader"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, "install Debian's python3-firewall (scripts/bootstrap.sh): " + proc.stderr


def test_a_policy_firewalld_keeps_whole_passes(tmp_path):
    proc = run_script(tmp_path, policy(GOOD_RULES))
    assert proc.returncode == 0, proc.stderr
    assert "refuses" not in proc.stderr


@pytest.mark.parametrize("bad_rule", [
    # The firewall scenario's injected bad case: a source that is no address.
    '<rule family="ipv4"><source address="not-an-address"/><port port="4242" protocol="tcp"/><accept/></rule>',
    # An IPv6 network in an ipv4 rule.
    '<rule family="ipv4"><source address="fd00::/64"/><port port="4242" protocol="tcp"/><accept/></rule>',
    # A port firewalld cannot parse.
    '<rule family="ipv4"><source address="10.0.0.1"/><port port="70000" protocol="tcp"/><accept/></rule>',
])
def test_a_rule_firewalld_drops_with_a_warning_fails_the_check(tmp_path, bad_rule):
    proc = run_script(tmp_path, policy(GOOD_RULES[:2] + [bad_rule] + GOOD_RULES[2:]))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.strip().splitlines()[-1] == "firewalld refuses 1 of the 6 rules"


def test_an_unreadable_policy_fails_the_check(tmp_path):
    proc = run_script(tmp_path, "<policy><rule></policy>")
    assert proc.returncode != 0


def test_the_candidate_is_left_in_place(tmp_path):
    """The template module moves the candidate into place after the check: it must stay."""
    run_script(tmp_path, policy(GOOD_RULES))
    assert (tmp_path / "tmpXyz123").read_text(encoding="utf-8") == policy(GOOD_RULES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmpXyz123"]
