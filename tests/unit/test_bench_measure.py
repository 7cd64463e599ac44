"""bench/measure.py: the pure parts of the benchmark runner.

The Ansible excerpts are real output: a molecule no-op run's recap and profile_tasks
summary (ansible-core 2.19, ansible.posix.profile_tasks) and `ansible -vvv` over SSH
to a bench host.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
import measure  # noqa: E402  pylint: disable=wrong-import-position

RUN_OUTPUT = """\
TASK [orthanc : Report the health of Orthanc] **********************************
ok: [pp-default-pacs]

PLAY RECAP *********************************************************************
pp-default-pacs            : ok=18   changed=0    unreachable=0    failed=0    skipped=18   rescued=0    ignored=0   
pp-other                   : ok=3    changed=2    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   


TASKS RECAP ********************************************************************
Monday 30 November 2026  23:19:43 +0000 (0:00:00.539)       0:00:08.634 ******* 
=============================================================================== 
orthanc : Install the Lua scripts --------------------------------------- 0.80s
orthanc : Render orthanc.json.redacted (the configuration without secrets, for diffs) --- 0.74s
orthanc : Render orthanc.json ------------------------------------------- 0.73s
orthanc : Find other JSON files in the configuration directory (read-only) --- 0.44s
orthanc : Render orthanc.json ------------------------------------------- 0.20s
orthanc : Decide how Orthanc takes the change - restart, live REST change, or nothing --- 0.14s
"""

VERBOSE = """\
<172.28.50.11> ESTABLISH SSH CONNECTION FOR USER: deploy
<172.28.50.11> SSH: EXEC ssh -o ControlMaster=auto -o ControlPersist=120s -o 'User="deploy"' 172.28.50.11 '/bin/sh -c '"'"'echo PLATFORM; uname; echo FOUND; command -v '"'"'"'"'"'"'"'"'python3.13'"'"'"'"'"'"'"'"'; echo ENDFOUND && sleep 0'"'"''
<172.28.50.11> (0, b'PLATFORM\\nLinux\\nFOUND\\n/usr/bin/python3.11\\nENDFOUND\\n', b'')
Pipelining is enabled.
<172.28.50.11> SSH: EXEC ssh -o ControlMaster=auto -o ControlPersist=120s 172.28.50.11 '/bin/sh -c '"'"'/usr/bin/python3.11 && sleep 0'"'"''
<172.28.50.12> SSH: EXEC sftp -b - -o ControlMaster=auto '[172.28.50.12]'
<172.28.50.11> (0, b'\\n{"ping": "pong"}\\n', b'')
"""


def test_recap_per_host():
    recap = measure.parse_recap(RUN_OUTPUT)
    assert recap == {"pp-default-pacs": {"ok": 18, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 18},
                     "pp-other": {"ok": 3, "changed": 2, "unreachable": 0, "failed": 1, "skipped": 0}}


def test_recap_of_output_without_one_is_empty():
    assert measure.parse_recap("TASK [x] ****\nok: [h]\n") == {}


def test_profile_names_with_dashes_and_parentheses_and_sums_repeats():
    profile = measure.parse_profile(RUN_OUTPUT)
    assert profile["orthanc : Render orthanc.json"] == 0.93
    assert profile["orthanc : Decide how Orthanc takes the change - restart, live REST change, or nothing"] == 0.14
    assert profile["orthanc : Find other JSON files in the configuration directory (read-only)"] == 0.44
    assert len(profile) == 5


def test_top_tasks_slowest_first():
    top = measure.top_tasks(measure.parse_profile(RUN_OUTPUT), 2)
    assert top == [{"task": "orthanc : Render orthanc.json", "s": 0.93},
                   {"task": "orthanc : Install the Lua scripts", "s": 0.8}]


def test_round_trips_per_address_count_ssh_and_sftp():
    assert measure.count_round_trips(VERBOSE) == {"172.28.50.11": 2, "172.28.50.12": 1}


def test_known_hosts_one_line_per_address_without_the_comment():
    text = measure.known_hosts_lines(["172.28.50.11", "172.28.50.200"], "ssh-ed25519 AAAAC3Nz root@pp-bench\n")
    assert text == "172.28.50.11 ssh-ed25519 AAAAC3Nz\n172.28.50.200 ssh-ed25519 AAAAC3Nz\n"


def test_known_hosts_accepted_by_ssh_keygen(tmp_path):
    """ssh-keygen -F finds each address in the file we write (the real reader)."""
    key = tmp_path / "host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    path = tmp_path / "known_hosts"
    path.write_text(measure.known_hosts_lines(["172.28.50.11", "172.28.50.12"], (tmp_path / "host.pub").read_text()))
    for address in ("172.28.50.11", "172.28.50.12"):
        found = subprocess.run(["ssh-keygen", "-F", address, "-f", str(path)], capture_output=True, text=True)
        assert found.returncode == 0, found.stderr
    assert subprocess.run(["ssh-keygen", "-F", "172.28.50.13", "-f", str(path)], capture_output=True).returncode == 1


def test_ssh_config_read_by_ssh(tmp_path):
    """ssh -G (the real parser) reads our config: key, known_hosts, strict checking, ControlPersist."""
    config = tmp_path / "ssh_config"
    config.write_text(measure.ssh_config_text("deploy", "/k/id", "/k/known_hosts", "/k/cp"))
    seen = subprocess.run(["ssh", "-G", "-F", str(config), "172.28.50.11"], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    assert "user deploy" in seen
    assert "identityfile /k/id" in seen
    assert "userknownhostsfile /k/known_hosts" in seen
    assert "stricthostkeychecking true" in seen
    assert "controlpersist 120" in seen
    assert any(line.startswith("controlpath /k/cp/floor-") for line in seen)


def test_ssh_env_keeps_ansible_cfg_ssh_args():
    env = measure.ssh_env("/k/id", "/k/known_hosts", "/k/cp")
    assert "ANSIBLE_SSH_ARGS" not in env  # ControlPersist and pipelining stay as in ansible.cfg
    assert env["ANSIBLE_PRIVATE_KEY_FILE"] == "/k/id"
    assert "UserKnownHostsFile=/k/known_hosts" in env["ANSIBLE_SSH_COMMON_ARGS"]
    assert "StrictHostKeyChecking=yes" in env["ANSIBLE_SSH_COMMON_ARGS"]


def test_ppid_of_real_proc_stat():
    with open("/proc/self/stat") as handle:
        assert measure.ppid_of(handle.read()) == os.getppid()


def test_ppid_of_command_with_spaces_and_parenthesis():
    assert measure.ppid_of("42 (a b) c) S 7 42 42 0 -1") == 7


def test_descendants_of_a_tree():
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1}
    assert sorted(measure.descendants(10, parents)) == [10, 11, 12, 13]
    assert measure.descendants(99, parents) == [99]


def test_rss_of_real_proc_status():
    with open("/proc/self/status") as handle:
        assert measure.rss_kib(handle.read()) > 1000
    assert measure.rss_kib("Name:\tkthreadd\nState:\tS\n") == 0


def test_ratio_row_medians_and_goal():
    row = measure.ratio_row("noop", "no-op", [10.0, 12.0, 30.0], [2.0, 3.0, 4.0], 4.0, "ping")
    assert (row["median_s"], row["floor_median_s"], row["ratio"], row["met"]) == (12.0, 3.0, 4.0, True)
    assert measure.verdict(row) == "met"
    row = measure.ratio_row("noop", "no-op", [13.0], [3.0], 4.0, "ping")
    assert row["met"] is False and measure.verdict(row) == "MISSED"
    row = measure.ratio_row("fleet4", "4 hosts", [13.0], [3.0], None, "1 host")
    assert row["met"] is None and measure.verdict(row) == "-"


def test_projected_seconds_linear_beyond_the_largest_size():
    measured = {1: 10.0, 4: 20.0, 8: 40.0}
    assert measure.projected_seconds(measured, 32) == pytest.approx(160.0)
    assert measure.projected_seconds(measured, 8) == 40.0


def test_inotify_shortfall_names_the_setting_and_the_value():
    assert measure.inotify_needed(33) == 33 * 7 + 64
    assert measure.inotify_shortfall(128, 33) == (
        "fs.inotify.max_user_instances is 128; 33 systemd containers need about 295 "
        "(as root: sysctl -w fs.inotify.max_user_instances=295)")
    assert measure.inotify_shortfall(295, 33) is None
    assert measure.inotify_shortfall(1024, 33) is None
    assert measure.inotify_shortfall(128, 8) is None


def test_cpu_times_and_busy_fraction():
    before = measure.cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    assert before == (150, 1000)
    after = measure.cpu_times("cpu  160 0 70 900 70 0 0 0 0 0\n")
    assert after == (230, 1200)
    assert measure.busy_fraction(before, after) == pytest.approx(0.4)
    assert measure.busy_fraction(after, after) == 0.0
    real = measure.cpu_times(open("/proc/stat", encoding="ascii").read())
    assert 0 <= real[0] <= real[1]


def test_per_host():
    assert measure.per_host(10.0, 8) == 1.25
    assert measure.per_host(None, 8) is None


def test_load_span():
    assert measure.load_span([1.04, 1.01]) == "1.0"
    assert measure.load_span([0.5, 2.25, 1.0]) == "0.5-2.2"


def test_markdown_table_one_line_per_figure_with_verdict_and_docker_column():
    noop = measure.ratio_row("noop", "no-op rerun", [13.0], [3.0], 4.0, "ping")
    noop.update(hosts=1, load_at_start=[1.0], floor_load_at_start=[1.5],
                docker=measure.ratio_row("noop", "no-op rerun", [20.0], [2.0], 4.0, "ping"))
    fleet = measure.ratio_row("fleet8", "8 hosts vs 1", [40.0], [20.0], 2.0, "1 host")
    fleet.update(hosts=8, load_at_start=[2.0], floor_load_at_start=[2.0], controller_cpu_s_per_host=1.5,
                 controller_peak_mib_per_host=30.0)
    lines = measure.markdown_table([noop, fleet]).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| no-op rerun | 13.00 s | 3.00 s | 4.33x | 4x, missed | 10.0x (20.00 s / 2.00 s) | 1.0-1.5 |"
    assert lines[3] == ("| 8 hosts vs 1; controller per host: 1.50 CPU-s, 30 MiB peak | 40.00 s | 20.00 s | 2.00x"
                        " | 2x, met |  | 2.0 |")


def test_docker_inventory_overrides_one_host_only(tmp_path):
    """ansible-inventory (the real reader) merges it over the bench inventory for pacs1 only."""
    path = tmp_path / "docker.yml"
    path.write_text(measure.docker_inventory("pacs1", "pp-bench-pacs1"))
    bench = pathlib.Path(__file__).resolve().parents[2] / "bench"
    argv = [str(pathlib.Path(sys.executable).with_name("ansible-inventory")), "--vault-password-file",
            str(bench / ".vault-password-bench-only"), "-i", str(bench / "inventory"), "-i", str(path), "--list"]
    listed = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    hostvars = listed["_meta"]["hostvars"]
    assert hostvars["pacs1"]["ansible_connection"] == "community.docker.docker"
    assert hostvars["pacs1"]["ansible_host"] == "pp-bench-pacs1"
    assert hostvars["pacs1"]["ansible_user"] == "root"
    assert hostvars["pacs1"]["orthanc_address"] == "172.28.50.11"
    assert "ansible_connection" not in hostvars["pacs2"]
    assert hostvars["pacs2"]["ansible_user"] == "deploy"
