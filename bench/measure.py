"""Pure helpers of bench/run.py: parsing Ansible's output, the SSH files of a run,
the figures and their goals. No I/O here, so tests/unit/test_bench_measure.py tests
each of them on real output.
"""
import re
import statistics

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")
PROFILE = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$")
SSH_EXEC = re.compile(r"^<([^>]+)> SSH: EXEC (?:ssh|sftp|scp)\b")


def parse_recap(stdout):
    """{host: {ok, changed, unreachable, failed, skipped}} from a PLAY RECAP."""
    keys = ("ok", "changed", "unreachable", "failed", "skipped")
    return {m.group(1): dict(zip(keys, map(int, m.groups()[1:])))
            for m in map(RECAP.match, stdout.splitlines()) if m}


def parse_profile(stdout):
    """{task: seconds} from profile_tasks' summary (after the last ==== line).

    A task listed twice (an included file run twice) is summed.
    """
    tasks = {}
    for line in stdout.split("=" * 20)[-1].splitlines():
        match = PROFILE.match(line.strip())
        if match:
            name = match.group(1).strip()
            tasks[name] = round(tasks.get(name, 0.0) + float(match.group(2)), 2)
    return tasks


def top_tasks(profile, top=15):
    """The top tasks of a {task: seconds} profile, slowest first, as [{task, s}]."""
    ranked = sorted(profile.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"task": task, "s": sec} for task, sec in ranked]


def count_round_trips(verbose_output):
    """{address: number of ssh invocations} from an ansible-playbook -vvv output.

    With pipelining each module run is one `SSH: EXEC ssh`; file transfers (sftp, scp)
    and interpreter discovery add theirs.
    """
    counts = {}
    for line in verbose_output.splitlines():
        match = SSH_EXEC.match(line.strip())
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def known_hosts_lines(addresses, host_key):
    """known_hosts text: every address with the one host key all bench hosts share.

    host_key is the content of ssh_host_ed25519_key.pub ("type base64 [comment]").
    """
    kind, blob = host_key.split()[:2]
    return "".join("%s %s %s\n" % (address, kind, blob) for address in addresses)


def ssh_config_text(user, key, known_hosts, control_dir, persist="120s"):
    """An ssh_config for the floor scripts: the same key, known_hosts and ControlPersist
    as Ansible's ssh_args in ansible.cfg, host keys checked strictly."""
    return ("Host *\n"
            "  User %s\n"
            "  IdentityFile %s\n"
            "  IdentitiesOnly yes\n"
            "  PreferredAuthentications publickey\n"
            "  UserKnownHostsFile %s\n"
            "  StrictHostKeyChecking yes\n"
            "  ControlMaster auto\n"
            "  ControlPersist %s\n"
            "  ControlPath %s/floor-%%C\n" % (user, key, known_hosts, persist, control_dir))


def ssh_env(key, known_hosts, control_dir):
    """Environment for ansible-playbook over SSH in a run's temp dir.

    ansible.cfg's ssh_args (ControlMaster, ControlPersist, publickey) and pipelining
    stay as users have them; only the key, known_hosts and socket directory are the run's.
    """
    return {"ANSIBLE_PRIVATE_KEY_FILE": key,
            "ANSIBLE_SSH_COMMON_ARGS": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % known_hosts,
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir}


def ppid_of(stat_text):
    """The parent pid from the text of /proc/<pid>/stat (the command may hold spaces)."""
    return int(stat_text.rsplit(")", 1)[1].split()[1])


def descendants(root, parents):
    """The pids under root (root included) given {pid: ppid}."""
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_kib(status_text):
    """VmRSS in KiB from the text of /proc/<pid>/status (0 for a kernel thread or zombie)."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", status_text, re.M)
    return int(match.group(1)) if match else 0


def ratio_row(key, what, samples, floor_samples, goal, floor_what):
    """One figure: medians, their ratio and whether it meets goal (None: no goal)."""
    value, floor = statistics.median(samples), statistics.median(floor_samples)
    ratio = value / floor
    return {"figure": key, "what": what, "median_s": round(value, 2), "floor": floor_what,
            "floor_median_s": round(floor, 2), "ratio": round(ratio, 2), "goal": goal,
            "met": None if goal is None else ratio <= goal,
            "samples": [round(v, 2) for v in samples], "floor_samples": [round(v, 2) for v in floor_samples]}


def verdict(row):
    """'met', 'MISSED' or '-' (no goal) for a figure row."""
    if row["met"] is None:
        return "-"
    return "met" if row["met"] else "MISSED"


def projected_seconds(measured, size):
    """Wall time of a no-op on size hosts, projected from {hosts: seconds} measured.

    Beyond the largest measured size the time grows linearly with the hosts (on 2 cores
    the controller's CPU is the bound once forks exceed the cores).
    """
    largest = max(measured)
    if size <= largest:
        return measured[largest]
    return measured[largest] * size / largest


# inotify instances a systemd container holds (systemd, dbus-daemon, systemd-logind, journald;
# counted from /proc/*/fd: 19 in the 3 containers up on 2026-12-01) and the margin kept for
# the host's own processes and the molecule scenarios of other users of the machine.
INOTIFY_PER_CONTAINER, INOTIFY_MARGIN = 7, 64


def inotify_needed(containers):
    """fs.inotify.max_user_instances that `containers` systemd containers need, with the margin."""
    return containers * INOTIFY_PER_CONTAINER + INOTIFY_MARGIN


def inotify_shortfall(limit, containers):
    """None when the limit fits `containers` systemd containers, else the sentence that says what to raise."""
    needed = inotify_needed(containers)
    if limit >= needed:
        return None
    return ("fs.inotify.max_user_instances is %d; %d systemd containers need about %d "
            "(as root: sysctl -w fs.inotify.max_user_instances=%d)" % (limit, containers, needed, needed))


def cpu_times(stat_text):
    """(busy, total) jiffies of all CPUs from the text of /proc/stat (idle and iowait are not busy)."""
    fields = [int(v) for v in stat_text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_fraction(before, after):
    """The share of CPU time spent busy between two cpu_times() readings (0 when no time passed)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


def per_host(value, hosts):
    """value / hosts, rounded; None when value is None."""
    return None if value is None else round(value / hosts, 2)


def load_span(loads):
    """'a-b' (or 'a') of the load averages at the start of a figure's samples."""
    low, high = min(loads), max(loads)
    return "%.1f" % low if round(low, 1) == round(high, 1) else "%.1f-%.1f" % (low, high)


def markdown_table(rows):
    """The figures as a Markdown table for README.md and bench/README.md."""
    lines = ["| figure (median, over SSH) | measured | floor | ratio | goal | docker connection | load at start |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        goal = "-" if row["goal"] is None else "%gx, %s" % (row["goal"], "met" if row["met"] else "missed")
        docker = "%.1fx (%.2f s / %.2f s)" % (row["docker"]["ratio"], row["docker"]["median_s"],
                                              row["docker"]["floor_median_s"]) if "docker" in row else ""
        what = row["what"]
        if row.get("hosts", 1) > 1:
            what += "; controller per host: %.2f CPU-s, %.0f MiB peak" % (
                row["controller_cpu_s_per_host"], row["controller_peak_mib_per_host"])
        lines.append("| %s | %.2f s | %.2f s | %.2fx | %s | %s | %s |" % (
            what, row["median_s"], row["floor_median_s"], row["ratio"], goal, docker,
            load_span(row["load_at_start"] + row["floor_load_at_start"])))
    return "\n".join(lines) + "\n"


def docker_inventory(host, name):
    """A YAML inventory source that switches host to the docker connection (container name),
    as root; given after the bench inventory, it overrides only these variables."""
    return ("all:\n  hosts:\n    %s:\n      ansible_connection: community.docker.docker\n"
            "      ansible_host: %s\n      ansible_user: root\n" % (host, name))
