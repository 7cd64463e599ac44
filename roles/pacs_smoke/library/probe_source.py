#!/usr/bin/python
"""The address a host uses as its source toward a target (to explain a dropped probe)."""

from __future__ import annotations

import socket

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: probe_source
short_description: The source address this host uses toward a target
description:
  - Asks the kernel which local address a connection to O(target) would come from (a UDP
    socket is connected, which sends no packet). The smoke role runs it on its probe host
    when a check got no answer, to tell whether the PACS host's firewall explains it.
  - Read-only; runs in check mode too.
options:
  target:
    description: Host name or IP address of the PACS.
    type: str
    required: true
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Find the probe's address toward the PACS
  probe_source:
    target: 10.20.0.10
  delegate_to: localhost
"""

RETURN = r"""
address:
  description: The local source address, or an empty string when the target does not resolve.
  type: str
  returned: always
"""


def source_address(target: str) -> str:
    """The local address the kernel picks for traffic to target; '' when it has none."""
    try:
        infos = socket.getaddrinfo(target, 9, proto=socket.IPPROTO_UDP)
    except (socket.gaierror, UnicodeError):
        return ""
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            try:
                sock.connect(address)  # UDP: chooses a route and a source, sends nothing
            except OSError:
                continue
            return sock.getsockname()[0].split("%")[0]
    return ""


def main():
    module = AnsibleModule(argument_spec={"target": {"type": "str", "required": True}}, supports_check_mode=True)
    module.exit_json(changed=False, address=source_address(module.params["target"]))


if __name__ == "__main__":
    main()
