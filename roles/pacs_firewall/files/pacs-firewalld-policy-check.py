#!/usr/bin/python3
# Shipped by pacs-provisioner (roles/pacs_firewall); copied to firewalld hosts and run as
# the template task's `validate:` command:  python3 pacs-firewalld-policy-check.py FILE
"""Check a candidate firewalld policy file with firewalld's own reader.

firewalld's reader (firewall.core.io.policy.policy_reader) skips a rich rule it cannot
parse with a mere warning and loads the rest, so "it loads" proves nothing. The candidate
is valid when the reader keeps every <rule> the file holds. Exit status 0 when it does;
otherwise 1 with "firewalld refuses N of the M rules" on stderr (after firewalld's own
warning naming the rule).
"""

import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET


def count_rules(xml_text):
    """The number of <rule> elements directly under the policy element of xml_text (str or bytes)."""
    return len(ET.fromstring(xml_text).findall("rule"))


def verdict(rules, kept):
    """None when firewalld kept all `rules`, else the message naming how many it refused."""
    if kept == rules:
        return None
    return f"firewalld refuses {rules - kept} of the {rules} rules"


def kept_rules(path):
    """The number of rules firewalld's policy reader keeps from the file at path.

    The reader takes a file name ending in .xml and a folder, so the candidate (a
    temporary file without that suffix) is read from a copy in a folder of its own.
    """
    # Imported here: only the host running firewalld has it; the functions above do not need it.
    from firewall.core.io.policy import policy_reader  # pylint: disable=import-outside-toplevel

    folder = tempfile.mkdtemp()
    try:
        shutil.copy(path, os.path.join(folder, "check.xml"))
        return len(policy_reader("check.xml", folder).rules_str)
    finally:
        shutil.rmtree(folder)


def main(argv):
    """Check the file named by argv[1]; return the process exit status or message."""
    if len(argv) != 2:
        return "usage: pacs-firewalld-policy-check.py POLICY_FILE"
    with open(argv[1], "rb") as handle:
        rules = count_rules(handle.read())
    return verdict(rules, kept_rules(argv[1])) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
