"""library/pacs_apt.py: its parsers on apt-get's and dpkg-query's real output (tests/unit/data/apt,
captured from a Debian 12 bench host), and the module run as Ansible runs it on this machine,
read-only (installed packages and check mode: it installs nothing here)."""

import importlib.util
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from module_run import run_module_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE = ROOT / "library" / "pacs_apt.py"
_SPEC = importlib.util.spec_from_file_location("pacs_apt", MODULE)
APT = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(APT)
DATA = pathlib.Path(__file__).resolve().parent / "data" / "apt"

# dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\n' bash libc6 orthanc on a fresh host
# (rc 1: orthanc is unknown to dpkg; the status keeps its trailing space), plus a removed package
# whose configuration files remain ("rc") and one whose configuration failed ("iF").
DPKG = "bash\tii \t5.2.15-2+b13\nlibc6\tii \t2.36-9+deb12u14\nnftables\trc \t1.0.6-2\ncurl\tiF \t7.88.1\n"


def test_dpkg_installed_reads_only_installed_packages():
    assert APT.dpkg_installed(DPKG) == {"bash": "5.2.15-2+b13", "libc6": "2.36-9+deb12u14"}


def test_missing_packages_keeps_the_order_and_reads_an_architecture():
    installed = APT.dpkg_installed(DPKG)
    assert APT.missing_packages(["orthanc", "bash", "curl", "libc6:amd64", "nftables"], installed) == [
        "orthanc", "curl", "nftables"]


@given(st.lists(st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,12}", fullmatch=True), unique=True),
       st.lists(st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,12}", fullmatch=True), unique=True))
def test_missing_packages_is_the_names_not_installed(names, installed_names):
    missing = APT.missing_packages(names, dict.fromkeys(installed_names, "1"))
    assert set(missing) == set(names) - set(installed_names)


@pytest.mark.parametrize(("stamp", "lists", "has_lists", "expected"), [
    (None, 1000.0, False, True),     # a fresh image: no Packages list at all
    (None, 1000.0, True, False),     # lists updated 100 s ago (no APT::Periodic stamp, Debian's default)
    (None, 0.0, True, True),         # lists 1100 s old
    (1050.0, 0.0, True, False),      # the stamp, where there is one, is the last update
    (None, None, True, True),
])
def test_lists_stale(stamp, lists, has_lists, expected):
    assert APT.lists_stale(stamp, lists, has_lists, now=1100.0, valid_time=1000) is expected


def test_a_simulated_install_names_each_package_with_its_version():
    out = (DATA / "simulate-install.txt").read_text()
    changes = APT.apt_changes(out)
    assert len(changes) == 39 and "orthanc 1.10.1+dfsg-2+deb12u1" in changes and "nftables 1.0.6-2+deb12u2" in changes
    assert APT.changes_anything(out)


def test_a_real_install_names_what_it_set_up():
    out = (DATA / "install.txt").read_text()
    changes = APT.apt_changes(out)
    assert len(changes) == 15 and "libpsl5 0.21.2-1" in changes and "curl 7.88.1-10+deb12u15" in changes
    assert APT.changes_anything(out)


def test_nothing_to_do_is_no_change():
    out = (DATA / "simulate-nothing.txt").read_text()
    assert APT.apt_changes(out) == [] and not APT.changes_anything(out)


def test_an_upgrade_and_a_downgrade_are_changes():
    # apt-get's simulation of an upgrade names the installed version in brackets (apt-pkg/algorithms.cc).
    out = ("Inst libc6 [2.36-9+deb12u13] (2.36-9+deb12u14 Debian-Security:12/stable-security [amd64])\n"
           "1 upgraded, 0 newly installed, 0 to remove and 12 not upgraded.\n")
    assert APT.apt_changes(out) == ["libc6 2.36-9+deb12u14"] and APT.changes_anything(out)
    assert APT.changes_anything("0 upgraded, 0 newly installed, 1 downgraded, 0 to remove and 0 not upgraded.\n")


def test_install_argv_keeps_names_after_the_options():
    argv = APT.install_argv(["-o", "nginx"], install_recommends=False, lock_timeout=60, simulate=True)
    assert argv[:2] == ["apt-get", "-y"] and "APT::Install-Recommends=false" in argv
    assert "--simulate" in argv and argv[-4:] == ["install", "--", "-o", "nginx"]
    assert "APT::Install-Recommends=true" in APT.install_argv(["x"], True, 60, False)


def test_policy_rc_d_sets_the_hosts_file_aside_and_puts_it_back(tmp_path, monkeypatch):
    policy = tmp_path / "policy-rc.d"
    monkeypatch.setattr(APT, "POLICY_RC_D", str(policy))
    policy.write_text("#!/bin/sh\nexit 0\n")
    with APT.PolicyRcD(101):
        assert policy.read_text() == "#!/bin/sh\nexit 101\n" and policy.stat().st_mode & 0o777 == 0o755
    assert policy.read_text() == "#!/bin/sh\nexit 0\n" and len(list(tmp_path.iterdir())) == 1
    policy.unlink()
    with APT.PolicyRcD(101):
        assert policy.exists()
    assert not policy.exists()
    with APT.PolicyRcD(None):
        assert not policy.exists()


def test_installed_packages_are_no_change_and_run_no_apt_get():
    answer = run_module_file(MODULE, {"name": ["bash", "dpkg"]})
    assert answer == {"changed": False, "installed": [], "cache_updated": False,
                      "invocation": answer["invocation"]}


def test_check_mode_names_a_missing_package_and_installs_nothing():
    # A package no Debian has: not installed, so check mode reports it (from dpkg-query when this
    # machine has no package lists, from apt-get --simulate, which then fails naming it, otherwise).
    answer = run_module_file(MODULE, {"name": ["bash", "pacs-apt-no-such-package"]}, check=True)
    if answer.get("failed"):
        assert "Unable to locate package pacs-apt-no-such-package" in answer["msg"], answer
    else:
        assert answer["changed"] is True and answer["installed"] == ["pacs-apt-no-such-package"], answer
