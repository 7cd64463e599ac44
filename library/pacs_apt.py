#!/usr/bin/python
"""Install Debian packages with apt-get and dpkg-query, in one module run, without python3-apt."""

from __future__ import annotations

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: pacs_apt
short_description: Install Debian packages in one module run, without python3-apt
description:
  - "What C(ansible.builtin.apt) with O(name), C(update_cache), C(cache_valid_time) and
    C(install_recommends: false) does, with Debian's own commands (C(dpkg-query), C(apt-get)): the
    apt module needs python3-apt on the host and, where it is missing, first installs it with an
    C(apt-get update) of its own (about 5 s on a fresh host), and without it cannot run in check mode."
  - "Packages that are all installed (O(state=present)) cost one C(dpkg-query) and nothing else: no
    list update, no lock."
  - Otherwise the package lists are updated first when they are older than O(cache_valid_time)
    (or missing), then C(apt-get install) installs (or upgrades, O(state=latest)) the packages with
    C(DEBIAN_FRONTEND=noninteractive), keeping changed configuration files (C(--force-confold)) and
    waiting up to O(lock_timeout) seconds for another apt (unattended-upgrades) to finish.
  - In check mode nothing is changed and the lists are not updated. C(apt-get --simulate) tells
    what would be installed, or, on a host without package lists, the packages that are not installed.
options:
  name:
    description: The packages.
    type: list
    elements: str
    required: true
  state:
    description: V(present) installs the missing ones; V(latest) also upgrades the installed ones to the candidate version.
    type: str
    choices: [present, latest]
    default: present
  cache_valid_time:
    description: Update the package lists before an install when they are older than this (seconds).
    type: int
    default: 3600
  install_recommends:
    description: Install the packages' recommended packages too.
    type: bool
    default: false
  policy_rc_d:
    description:
      - Exit code of a C(/usr/sbin/policy-rc.d) put in place during the install only (101 forbids
        the packages' maintainer scripts to start or restart services), the host's own one set
        aside meanwhile and put back after it, as C(ansible.builtin.apt) does.
      - Not used in check mode.
    type: int
  lock_timeout:
    description: Seconds apt-get waits for the dpkg lock another apt holds.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Install nginx
  pacs_apt:
    name: [nginx]
"""

RETURN = r"""
installed:
  description: The packages installed or upgraded (or that would be, in check mode), with their version, as apt-get names them.
  returned: always
  type: list
  elements: str
cache_updated:
  description: Whether the package lists were updated.
  returned: always
  type: bool
stdout:
  description: apt-get's output, when it ran.
  returned: when apt-get install ran
  type: str
"""

POLICY_RC_D = "/usr/sbin/policy-rc.d"
LISTS_DIR = "/var/lib/apt/lists"
# apt's APT::Periodic stamp, touched by each successful update (what ansible.builtin.apt reads too).
UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
SUMMARY = re.compile(r"^(\d+) upgraded, (\d+) newly installed, (?:(\d+) downgraded, )?(\d+) to remove", re.M)
INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)", re.M)
SETTING_UP = re.compile(r"^Setting up (\S+?)(?::\w+)? \((\S+)\) \.\.\.", re.M)


def dpkg_installed(stdout):
    """{package: version} of the packages whose dpkg status is installed ("ii"), from the output of
    dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\t${Version}\\n'."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].strip() == "ii":
            found[parts[0]] = parts[2]
    return found


def missing_packages(names, installed):
    """The names not installed, in their order (a name may carry an architecture, pkg:arch)."""
    return [name for name in names if name not in installed and name.split(":")[0] not in installed]


def lists_stale(stamp_mtime, lists_mtime, has_lists, now, valid_time):
    """Whether the package lists need an update: none there, or the last update (the update stamp,
    else the lists folder) older than valid_time seconds."""
    if not has_lists:
        return True
    updated = stamp_mtime if stamp_mtime is not None else lists_mtime
    return updated is None or now - updated > valid_time


def apt_changes(stdout):
    """The packages an apt-get install changed or would change, as "name version", from its
    output: the Inst lines of a simulation, or the Setting up lines of a real run."""
    return ["%s %s" % m for m in INST.findall(stdout)] or ["%s %s" % m for m in SETTING_UP.findall(stdout)]


def changes_anything(stdout):
    """Whether apt-get's summary line counts a package upgraded, installed, downgraded or removed."""
    match = SUMMARY.search(stdout)
    return bool(match) and any(int(n or 0) for n in match.groups())


def install_argv(names, install_recommends, lock_timeout, simulate):
    """The apt-get install command."""
    argv = ["apt-get", "-y", "-q", "-o", "APT::Install-Recommends=%s" % ("true" if install_recommends else "false"),
            "-o", "DPkg::Lock::Timeout=%d" % lock_timeout,
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    if simulate:
        argv.append("--simulate")
    return argv + ["install", "--"] + list(names)


def mtime(path):
    """The modification time of path, or None."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def has_package_lists():
    """Whether apt has any Packages list (a fresh image has none)."""
    try:
        return any(name.endswith("_Packages") or "_Packages." in name for name in os.listdir(LISTS_DIR))
    except OSError:
        return False


def run(module, argv, what):
    """Run argv in the C locale, non-interactive; fail the module naming what on a non-zero exit."""
    rc, out, err = module.run_command(argv, environ_update={"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg="%s failed (rc %d): %s" % (what, rc, (err or out).strip()[-2000:]), rc=rc,
                         stdout=out, stderr=err)
    return out


class PolicyRcD:
    """A policy-rc.d that exits with code during the block, the host's own one set aside and put back."""

    def __init__(self, code):
        self.code = code
        self.saved = POLICY_RC_D + ".pacs_apt-saved"

    def __enter__(self):
        if self.code is None:
            return self
        if os.path.lexists(POLICY_RC_D):
            os.rename(POLICY_RC_D, self.saved)
        with open(POLICY_RC_D, "w", encoding="ascii") as handle:
            handle.write("#!/bin/sh\nexit %d\n" % self.code)
        os.chmod(POLICY_RC_D, 0o755)
        return self

    def __exit__(self, *exc):
        if self.code is None:
            return
        os.remove(POLICY_RC_D)
        if os.path.lexists(self.saved):
            os.rename(self.saved, POLICY_RC_D)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "latest"], "default": "present"},
            "cache_valid_time": {"type": "int", "default": 3600},
            "install_recommends": {"type": "bool", "default": False},
            "policy_rc_d": {"type": "int"},
            "lock_timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    names = params["name"]
    if not names:
        module.exit_json(changed=False, installed=[], cache_updated=False)
    # rc 1 names packages dpkg has never seen: they are missing, not an error.
    rc, out, err = module.run_command(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n", "--"]
                                      + names, environ_update={"LC_ALL": "C"})
    if rc not in (0, 1):
        module.fail_json(msg="dpkg-query failed (rc %d): %s" % (rc, err.strip()))
    missing = missing_packages(names, dpkg_installed(out))
    if params["state"] == "present" and not missing:
        module.exit_json(changed=False, installed=[], cache_updated=False)

    has_lists = has_package_lists()
    if module.check_mode:
        if not has_lists:
            module.exit_json(changed=bool(missing), installed=missing, cache_updated=False)
        simulated = run(module, install_argv(names, params["install_recommends"], params["lock_timeout"], True),
                        "apt-get --simulate install")
        module.exit_json(changed=bool(missing) or changes_anything(simulated), installed=apt_changes(simulated),
                         cache_updated=False)

    stale = lists_stale(mtime(UPDATE_STAMP), mtime(LISTS_DIR), has_lists, time.time(), params["cache_valid_time"])
    if stale:
        run(module, ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=%d" % params["lock_timeout"], "update"],
            "apt-get update")
    with PolicyRcD(params["policy_rc_d"]):
        out = run(module, install_argv(names, params["install_recommends"], params["lock_timeout"], False),
                  "apt-get install")
    # A missing package that apt-get only had to configure (dpkg status iF or iU) is no line of
    # its summary's counts, but it is a change.
    module.exit_json(changed=bool(missing) or changes_anything(out), installed=apt_changes(out), cache_updated=stale,
                     stdout=out)


if __name__ == "__main__":
    main()
