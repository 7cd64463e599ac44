"""Benchmarks of pacs-provisioner's main jobs over real SSH, each as a ratio against a
floor measured in the same run on the same machine (shared, noisy machines: absolute
seconds mean little). Not part of the test suite.

    .venv/bin/python bench/run.py                  # everything, ~20 min
    .venv/bin/python bench/run.py --only noop,smoke --reps 3

The bench hosts are systemd containers with sshd and a sudo user `deploy`, on the docker
network pp-bench (172.28.50.0/24); Ansible reaches them over SSH as users reach theirs
(ansible.cfg's ControlPersist and pipelining) with a key and known_hosts made for the run
in a temp dir. The no-op and its ping floor are also measured over the docker connection,
as a second column. Each measurement holds /tmp/pp-molecule.lock (no molecule scenario
runs meanwhile) and records the load average at its start.

Figures: fresh converge vs a plain shell script over the same SSH; no-op rerun and
`--check --diff` vs an ansible ping play; fleet scaling 1/4/8 (32) hosts with forks set
for it; the smoke phase vs a bare pynetdicom/requests script; offline validation at
scale (bench/validate_scale.py). Containers, network, volume and images are named
pp-bench*, removed at the start and at the end, also on failure.
Results: a table on stdout, bench/results/<stamp>/ (logs, JSON) and
bench/results/latest.json.
"""
import argparse
import contextlib
import datetime
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import measure

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PYTHON = sys.executable
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
INVENTORY = os.path.join(BENCH, "inventory")
VAULT = os.path.join(BENCH, ".vault-password-bench-only")
RESULTS = os.path.join(BENCH, "results")
LOCK = "/tmp/pp-molecule.lock"

PREFIX = "pp-bench"
NETWORK, SUBNET, GATEWAY = PREFIX, "172.28.50.0/24", "172.28.50.1"
APT_VOLUME = PREFIX + "-apt"
SSH_IMAGE = "pp-bench/sshd:latest"
CONVERGED_IMAGE = "pp-bench/converged:latest"
BASE_IMAGE = "local/debian12-systemd:latest"
USER = "deploy"
HOSTS = ["pacs%d" % i for i in range(1, 33)]
FLEET = (1, 4, 8)
BIG_FLEET, BIG_FLEET_BUDGET_S = 32, 600
FLOOR_HOST, FLOOR_IP = PREFIX + "-floor", "172.28.50.200"
MODALITY_PORTS = [11121, 11122, 11123, 11124, 11125]
PACKAGES = ["orthanc", "orthanc-dicomweb", "curl", "lua5.3", "nftables"]
SYSTEMD_ARGS = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--cgroupns=host"]
# Runs that prepare a figure and are not one (their profile is not the slowest run's).
SETUP_RUNS = ("noop_vvv", "fleet_warmup", "record_docker", "record_ssh")
# Issue 17's goals: ratio to the floor at most this.
GOALS = {"converge": 1.5, "noop": 4.0, "check": 4.0, "fleet8": 2.0, "fleet32": 6.0, "smoke": 2.5,
         "validate": 5.0}


def container(host):
    return "%s-%s" % (PREFIX, host)


def address(host):
    return "172.28.50.%d" % (10 + HOSTS.index(host) + 1)


def run(argv, check=True, **kwargs):
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kwargs)


def inotify_limit():
    """The machine's fs.inotify.max_user_instances (shared by every container: one kernel)."""
    with open("/proc/sys/fs/inotify/max_user_instances", encoding="ascii") as handle:
        return int(handle.read())


def load():
    return round(os.getloadavg()[0], 2)


def read_cpu_times():
    with open("/proc/stat", encoding="ascii") as handle:
        return measure.cpu_times(handle.read())


def settle(busy_below=0.25, window_s=5, max_wait_s=240):
    """Wait until the machine's CPUs were less than busy_below busy over a window (the warm-up of
    many fresh hosts keeps them busy for minutes); the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait_s:
        before = read_cpu_times()
        time.sleep(window_s)
        if measure.busy_fraction(before, read_cpu_times()) < busy_below:
            break
    return round(time.monotonic() - start)


def tree_rss_kib(root):
    """Resident memory of root and its descendants now, from /proc."""
    parents, rss = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                parents[int(name)] = measure.ppid_of(handle.read())
            with open("/proc/%s/status" % name) as handle:
                rss[int(name)] = measure.rss_kib(handle.read())
        except (OSError, IndexError, ValueError):
            continue
    return sum(rss.get(pid, 0) for pid in measure.descendants(root, parents))


@contextlib.contextmanager
def molecule_lock():
    """Hold the lock molecule scenarios take, so no scenario runs during a measurement."""
    start = time.time()
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = time.time() - start
        if waited > 1:
            print("  (waited %.0f s for %s)" % (waited, LOCK), flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.out = os.path.join(RESULTS, self.stamp)
        os.makedirs(self.out, exist_ok=True)
        self.samples = {}       # name -> [seconds]
        self.loads = {}         # name -> [load average at the start of each sample]
        self.cpu = {}           # name -> [[controller CPU s, bench containers' CPU s]]
        self.peak_mib = {}      # name -> [controller peak resident MiB (ansible-playbook and children)]
        self.recaps = {}        # name -> last recap {host: counts}
        self.profiles = {}      # name -> [{task: seconds}] per sample
        self.extra = {}
        self.modalities = None
        self.counter = 0
        self.ssh_dir = tempfile.mkdtemp(prefix="pp-bench-ssh-")
        self.key = os.path.join(self.ssh_dir, "id_ed25519")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")
        self.ssh_config = os.path.join(self.ssh_dir, "ssh_config")
        self.control_dir = os.path.join(self.ssh_dir, "cp")
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        PROFILE_TASKS_TASK_OUTPUT_LIMIT="all", PATH=VENV_BIN + os.pathsep + os.environ["PATH"],
                        **measure.ssh_env(self.key, self.known_hosts, self.control_dir))

    def containers_cpu(self):
        """CPU seconds used so far by the running bench containers (cgroup cpuacct)."""
        total = 0
        ids = run(["docker", "ps", "-q", "--no-trunc", "--filter", "name=" + PREFIX], check=False).stdout.split()
        for cid in ids:
            for path in ("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage" % cid,
                         "/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat" % cid):
                try:
                    with open(path) as handle:
                        text = handle.read()
                except OSError:
                    continue
                total += int(text) / 1e9 if path.endswith("usage") else int(text.split()[1]) / 1e6
                break
        return total

    # ---- timing -------------------------------------------------------------
    def timed(self, name, argv, log=None, env=None, required=True):
        """Run argv, record its wall time, CPU, peak memory and starting load under name.

        A failure ends the bench, or when not required is noted (extra["failed"]) and gives None.
        """
        usage, hosts_cpu, started_load = resource.getrusage(resource.RUSAGE_CHILDREN), self.containers_cpu(), load()
        peak, done = [0], threading.Event()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                                env=env or self.env)

        def sample():
            while not done.wait(0.5):
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, stderr = proc.communicate()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = [after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, self.containers_cpu() - hosts_cpu]
        self.counter += 1
        with open(os.path.join(self.out, "%03d-%s.log" % (self.counter, log or name)), "w") as handle:
            handle.write("$ %s\n# %.2f s, rc %d, load at start %.2f\n%s\n%s" % (
                " ".join(argv), seconds, proc.returncode, started_load, stdout, stderr))
        if proc.returncode != 0 and not required:
            print("  %-22s failed (rc %d), left out; see %s" % (name, proc.returncode, self.out), flush=True)
            self.extra.setdefault("failed", []).append(name)
            return None
        if proc.returncode != 0:
            sys.exit("bench: %s failed (rc %d), see %s\n%s" % (name, proc.returncode, self.out,
                                                             (stdout + stderr)[-3000:]))
        self.samples.setdefault(name, []).append(seconds)
        self.loads.setdefault(name, []).append(started_load)
        self.cpu.setdefault(name, []).append([round(cpu[0], 2), round(cpu[1], 2)])
        self.peak_mib.setdefault(name, []).append(round(peak[0] / 1024, 1))
        print("  %-22s %7.2f s  cpu: controller %6.2f s, hosts %6.2f s, peak %5.0f MiB  (load at start %.1f)"
              % (name, seconds, cpu[0], cpu[1], peak[0] / 1024, started_load), flush=True)
        return stdout

    def playbook(self, name, playbook, hosts, extra=(), expect_changes=False, env=None, inventories=(),
                 required=True):
        argv = ["ansible-playbook", "-i", INVENTORY] + ["-i" + i for i in inventories] + [
            "--vault-password-file", VAULT, "--limit", ",".join(hosts), playbook] + list(extra)
        stdout = self.timed(name, argv, env=dict(self.env, **(env or {})), required=required)
        if stdout is None:
            return None
        recap = measure.parse_recap(stdout)
        if not expect_changes:
            changed = {h: c["changed"] for h, c in recap.items() if c["changed"]}
            if changed:
                sys.exit("bench: %s was meant to change nothing but changed %s; see %s" % (name, changed, self.out))
        self.recaps[name] = recap
        self.profiles.setdefault(name, []).append(measure.parse_profile(stdout))
        return stdout

    def section(self, name):
        print("== %s (load %.1f)" % (name, load()), flush=True)

    # ---- hosts --------------------------------------------------------------
    def start_host(self, name, ip, image, apt_cache=True):
        run(["docker", "rm", "-f", name], check=False)
        argv = ["docker", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK, "--ip", ip]
        argv += SYSTEMD_ARGS + (["-v", APT_VOLUME + ":/var/cache/apt/archives"] if apt_cache else [])
        run(argv + [image, "/lib/systemd/systemd"])

    def wait_ready(self, name, ip):
        """systemd running (or degraded) in the container and sshd answering on ip:22."""
        deadline, state = time.time() + 120, ""
        while time.time() < deadline:  # "offline" until PID 1 has its bus up
            state = run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"],
                        check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            sys.exit("bench: systemd in %s is %r" % (name, state))
        while time.time() < deadline:
            try:
                with socket.create_connection((ip, 22), timeout=2) as conn:
                    if conn.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        sys.exit("bench: sshd in %s does not answer on %s:22" % (name, ip))

    def build_ssh_image(self):
        """A fresh Debian host as hospitals have it: sshd and a sudo user holding the run's key."""
        with open(self.key + ".pub") as handle:
            public = handle.read().strip()
        builder = PREFIX + "-build"
        run(["docker", "rm", "-f", builder], check=False)
        script = ("set -e; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  "--no-install-recommends openssh-server >/dev/null; rm -rf /var/lib/apt/lists/*; "
                  "useradd -m -s /bin/bash {u}; install -d -m 0700 -o {u} -g {u} /home/{u}/.ssh; "
                  "echo '{key}' > /home/{u}/.ssh/authorized_keys; chown {u}: /home/{u}/.ssh/authorized_keys; "
                  "echo '{u} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{u}; chmod 0440 /etc/sudoers.d/{u}; "
                  "visudo -cf /etc/sudoers.d/{u}").format(u=USER, key=public)
        run(["docker", "run", "--name", builder, "-v", APT_VOLUME + ":/var/cache/apt/archives",
             "--network", NETWORK, BASE_IMAGE, "sh", "-c", script])
        run(["docker", "commit", builder, SSH_IMAGE])
        host_key = run(["docker", "run", "--rm", SSH_IMAGE, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout
        run(["docker", "rm", "-f", builder], check=False)
        with open(self.known_hosts, "w") as handle:
            handle.write(measure.known_hosts_lines([address(h) for h in HOSTS] + [FLOOR_IP], host_key))

    def setup(self):
        self.section("setup")
        self.cleanup(quiet=True)
        os.makedirs(self.control_dir)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pp-bench-controller", "-f", self.key])
        with open(self.ssh_config, "w") as handle:
            handle.write(measure.ssh_config_text(USER, self.key, self.known_hosts, self.control_dir))
        run(["docker", "network", "create", "--subnet", SUBNET, NETWORK])
        run(["docker", "volume", "create", APT_VOLUME])
        self.modalities = subprocess.Popen([PYTHON, os.path.join(BENCH, "modalities.py"), GATEWAY]
                                           + [str(p) for p in MODALITY_PORTS],
                                           stdout=subprocess.PIPE, text=True)
        if self.modalities.stdout.readline().strip() != "ready":
            sys.exit("bench: the modality SCPs did not start")
        # Warm a shared apt archive: both the converge and its floor then install from
        # it, so the mirror's download speed is not part of either figure.
        print("  warming the apt archive volume %s and building %s" % (APT_VOLUME, SSH_IMAGE), flush=True)
        run(["docker", "run", "--rm", "-v", APT_VOLUME + ":/var/cache/apt/archives", "--network", NETWORK,
             BASE_IMAGE, "sh", "-c", "apt-get update -qq && apt-get install -y -qq --download-only "
             "--no-install-recommends " + " ".join(PACKAGES + ["openssh-server"])])
        self.build_ssh_image()

    def stop_ssh_masters(self):
        """End the ControlPersist masters of this run (Ansible's and the floor's), by socket."""
        if not os.path.isdir(self.control_dir):
            return
        for name in os.listdir(self.control_dir):
            run(["ssh", "-o", "ControlPath=" + os.path.join(self.control_dir, name), "-O", "exit", "dummy"],
                check=False)

    def cleanup(self, quiet=False):
        self.stop_ssh_masters()
        names = run(["docker", "ps", "-aq", "--filter", "name=^" + PREFIX + "-"], check=False).stdout.split()
        if names:
            run(["docker", "rm", "-f"] + names, check=False)
        run(["docker", "network", "rm", NETWORK], check=False)
        run(["docker", "volume", "rm", APT_VOLUME], check=False)
        run(["docker", "rmi", CONVERGED_IMAGE, SSH_IMAGE], check=False)
        if self.modalities and self.modalities.poll() is None:
            self.modalities.terminate()
            self.modalities.wait(timeout=10)
        if not quiet:
            shutil.rmtree(self.ssh_dir, ignore_errors=True)
            print("== cleaned up the pp-bench containers, network, volume, images and the run's SSH files",
                  flush=True)

    # ---- the figures --------------------------------------------------------
    def converge(self):
        """1. Fresh converge of one host (site.yml without smoke) vs a shell script."""
        self.section("converge")
        files = os.path.join(self.out, "floor-files")
        pacs1 = container("pacs1")
        try:
            self.converge_reps(pacs1, files)
        finally:
            shutil.rmtree(files, ignore_errors=True)  # it holds the rendered secrets

    def converge_reps(self, pacs1, files):
        """Each rep: fresh pacs1 and floor host, site.yml on one, the floor script on the other."""
        for rep in range(self.args.converge_reps):
            # The last rep's ControlPersist masters lead to removed containers: new sessions
            # would hang on them.
            self.stop_ssh_masters()
            self.start_host(pacs1, address("pacs1"), SSH_IMAGE)
            self.start_host(FLOOR_HOST, FLOOR_IP, SSH_IMAGE)
            self.wait_ready(pacs1, address("pacs1"))
            self.wait_ready(FLOOR_HOST, FLOOR_IP)
            self.playbook("converge", "site.yml", ["pacs1"], ["--skip-tags", "smoke"], expect_changes=True)
            if rep == 0:
                os.makedirs(files, exist_ok=True)
                run(["docker", "cp", pacs1 + ":/etc/orthanc/orthanc.json", files])
                run(["docker", "cp", pacs1 + ":/etc/nftables.d/pacs_provisioner.nft", files])
            self.timed("converge_floor", ["bash", os.path.join(BENCH, "floor_converge.sh"), self.ssh_config,
                                          FLOOR_IP, files])
            # The second floor: the same steps in the fewest Ansible tasks, on a fresh floor host.
            self.start_host(FLOOR_HOST, FLOOR_IP, SSH_IMAGE)
            self.wait_ready(FLOOR_HOST, FLOOR_IP)
            self.timed("converge_ansible_floor", ["ansible-playbook", "-i", FLOOR_IP + ",", "-u", USER,
                                                  "-e", "floor_files=" + files,
                                                  os.path.join(BENCH, "floor_ansible.yml")])
            run(["docker", "rm", "-f", FLOOR_HOST], check=False)

    def noop(self):
        """2. No-op rerun and check mode vs a ping play; the same over the docker connection."""
        self.section("noop")
        # pacs1 over the docker connection: a second inventory source that overrides its
        # connection variables only (extra vars would apply to all 32 hosts).
        docker = os.path.join(self.ssh_dir, "docker-connection.yml")
        with open(docker, "w") as handle:
            handle.write(measure.docker_inventory("pacs1", container("pacs1")))
        for _ in range(self.args.reps):
            self.playbook("ping_floor", os.path.join(BENCH, "floor_ping.yml"), ["pacs1"])
            self.playbook("noop", "site.yml", ["pacs1"], ["--skip-tags", "smoke"])
            self.playbook("check", "site.yml", ["pacs1"], ["--skip-tags", "smoke", "--check", "--diff"])
            # The same rerun with every role run (role pacs_state off): what an unchanged host costs
            # without the skip, and what any changed host costs.
            self.playbook("noop_every_role", "site.yml", ["pacs1"],
                          ["--skip-tags", "smoke", "-e", "pacs_state_enabled=false"])
        # The docker connection is another input (ansible_connection, no SSH session): one
        # complete run over it records that first; one over SSH records SSH's again after.
        site = ["--skip-tags", "smoke"]
        if self.playbook("record_docker", "site.yml", ["pacs1"], site, inventories=[docker], expect_changes=True,
                         required=False) is not None:
            for _ in range(self.args.reps):
                self.playbook("ping_floor_docker", os.path.join(BENCH, "floor_ping.yml"), ["pacs1"],
                              inventories=[docker], required=False)
                self.playbook("noop_docker", "site.yml", ["pacs1"], site, inventories=[docker], required=False)
        self.playbook("record_ssh", "site.yml", ["pacs1"], site, expect_changes=True)
        # One more no-op with -vvv, outside the figures: its ssh invocations are the round trips.
        verbose = self.playbook("noop_vvv", "site.yml", ["pacs1"], ["--skip-tags", "smoke", "-vvv"])
        self.extra["noop_round_trips"] = measure.count_round_trips(verbose)

    def smoke(self):
        """4. The smoke phase vs a bare pynetdicom/requests script doing the same checks."""
        self.section("smoke")
        password = run([os.path.join(VENV_BIN, "ansible-vault"), "view", "--vault-password-file", VAULT,
                        os.path.join(INVENTORY, "group_vars", "orthanc", "vault.yml")]).stdout
        settings = {"host": address("pacs1"), "aet": "BENCH_PACS1", "dicom_port": 4242, "http_port": 8042,
                    "username": "admin",
                    "password": re.search(r'vault_orthanc_admin_password:\s*"?([^"\n]+)', password).group(1),
                    "modalities": [{"name": "CT_ROOM1", "aet": "BENCH_CT1", "allow_find": True},
                                   {"name": "CT_ROOM2", "aet": "BENCH_CT2"},
                                   {"name": "MR_ROOM1", "aet": "BENCH_MR1"},
                                   {"name": "US_ROOM1", "aet": "BENCH_US1"},
                                   {"name": "WORKSTATION", "aet": "BENCH_WS", "allow_find": True}]}
        path = os.path.join(self.out, "floor-smoke.json")
        with open(path, "w") as handle:
            json.dump(settings, handle)
        os.chmod(path, 0o600)
        try:
            for _ in range(self.args.reps):
                self.timed("smoke_floor", [PYTHON, os.path.join(BENCH, "floor_smoke.py"), path])
                self.playbook("smoke", "playbooks/smoke.yml", ["pacs1"])
        finally:
            os.remove(path)

    def fleet(self):
        """3. The no-op rerun on 1, 4 and 8 hosts (clones of the converged host), forks = hosts."""
        self.section("fleet")
        hosts = HOSTS[:max(FLEET)]
        self.fleet_hosts(hosts)
        for _ in range(self.args.fleet_reps):
            for size in FLEET:
                forks = ["--forks", str(size)]
                self.playbook("fleet%d" % size, "site.yml", HOSTS[:size], ["--skip-tags", "smoke"] + forks)
                self.playbook("fleet%d_ping" % size, os.path.join(BENCH, "floor_ping.yml"), HOSTS[:size], forks)
        if self.args.skip_fleet32:
            self.extra["fleet32"] = "not measured: skipped (--skip-fleet32)"
            print("  fleet32 " + self.extra["fleet32"], flush=True)
            return
        measured = {size: statistics.median(self.samples["fleet%d" % size]) for size in FLEET}
        projected = measure.projected_seconds(measured, BIG_FLEET)
        if projected > BIG_FLEET_BUDGET_S and not self.args.force_fleet32:
            self.extra["fleet32"] = ("not measured: a %d-host no-op would take about %.0f s here (8 hosts: %.0f s, "
                                     "linear on the controller's %d cores), over the %d s budget"
                                     % (BIG_FLEET, projected, measured[max(FLEET)], os.cpu_count(),
                                        BIG_FLEET_BUDGET_S))
            print("  fleet32 " + self.extra["fleet32"], flush=True)
            return
        shortfall = measure.inotify_shortfall(inotify_limit(), BIG_FLEET)
        if shortfall:
            self.extra["fleet32"] = "not measured: " + shortfall
            print("  fleet32 " + self.extra["fleet32"], flush=True)
            return
        try:  # 32 systemd containers may still exceed the machine (memory)
            self.fleet_hosts(HOSTS[:BIG_FLEET])
            forks = ["--forks", str(BIG_FLEET)]
            for _ in range(self.args.fleet32_reps):
                self.playbook("fleet32", "site.yml", HOSTS[:BIG_FLEET], ["--skip-tags", "smoke"] + forks)
                self.playbook("fleet32_ping", os.path.join(BENCH, "floor_ping.yml"), HOSTS[:BIG_FLEET], forks)
        except SystemExit as exc:
            self.extra["fleet32"] = "not measured: %s" % str(exc).splitlines()[0]
            print("  fleet32 " + self.extra["fleet32"], flush=True)
            run(["docker", "rm", "-f"] + [container(h) for h in HOSTS[max(FLEET):]], check=False)

    def fleet_hosts(self, hosts):
        """Clones of the converged pacs1 for hosts (not measured)."""
        if not run(["docker", "images", "-q", CONVERGED_IMAGE]).stdout.strip():
            run(["docker", "commit", container("pacs1"), CONVERGED_IMAGE])
        new = [h for h in hosts[1:] if not run(["docker", "ps", "-q", "--filter", "name=^%s$" % container(h)]
                                               ).stdout.strip()]
        for host in new:
            self.start_host(container(host), address(host), CONVERGED_IMAGE, apt_cache=False)
        for host in new:
            self.wait_ready(container(host), address(host))
        # Each clone has its own AE title: one complete run converges their Orthanc and writes
        # their own pacs_state record (pacs1's, copied with the image, names another host).
        if new:
            self.playbook("fleet_warmup", "site.yml", new, ["--skip-tags", "smoke", "--forks", str(len(new))],
                          expect_changes=True)
            print("  settled after the warm-up in %d s (load %.1f)" % (settle(), load()), flush=True)

    def validate(self):
        """5. Offline validation of 50 hospitals x 200 modalities (bench/validate_scale.py)."""
        self.section("validate")
        # The validation is one process per CPU on the controller: measured once the CPUs are quiet,
        # as the other figures are (main() runs it before the fleet, whose removal lingers).
        print("  settled in %d s (load %.1f)" % (settle(), load()), flush=True)
        target = os.path.join(self.out, "validate-scale.json")
        stdout = self.timed("validate_scale", [PYTHON, os.path.join(BENCH, "validate_scale.py"), "--json", target])
        try:
            with open(target) as handle:
                self.extra["validate"] = json.load(handle)
        except (OSError, ValueError):
            self.extra["validate"] = {"stdout": stdout[-2000:]}

    # ---- report -------------------------------------------------------------
    def cpu_median(self, name):
        """Median CPU seconds of a run: controller (ansible + children), hosts (containers)."""
        runs = self.cpu.get(name) or [[0, 0]]
        return {"controller": round(statistics.median(r[0] for r in runs), 2),
                "hosts": round(statistics.median(r[1] for r in runs), 2)}

    def figures(self):
        rows = []

        def row(key, what, name, floor_what, floor_name, goal, docker=None, hosts=1):
            if not self.samples.get(name) or not self.samples.get(floor_name):
                return
            entry = measure.ratio_row(key, what, self.samples[name], self.samples[floor_name], goal, floor_what)
            cpu = self.cpu_median(name)
            entry.update(cpu_s=cpu, floor_cpu_s=self.cpu_median(floor_name), hosts=hosts,
                         load_at_start=self.loads[name], floor_load_at_start=self.loads[floor_name],
                         controller_cpu_s_per_host=measure.per_host(cpu["controller"], hosts),
                         controller_peak_mib=max(self.peak_mib[name]),
                         controller_peak_mib_per_host=measure.per_host(max(self.peak_mib[name]), hosts))
            if docker and self.samples.get(docker[0]) and self.samples.get(docker[1]):
                entry["docker"] = measure.ratio_row(key, what + " (docker connection)", self.samples[docker[0]],
                                                    self.samples[docker[1]], goal, floor_what)
            rows.append(entry)

        ping = "ping play, no facts, same SSH"
        row("converge", "fresh converge, 1 host (site.yml --skip-tags smoke)", "converge",
            "shell script over the same SSH: apt-get, copy config, start", "converge_floor", GOALS["converge"])
        row("converge_ansible_floor", "Ansible floor: the shell floor's steps in 3 tasks (floor_ansible.yml)",
            "converge_ansible_floor", "shell script over the same SSH", "converge_floor", None)
        row("converge_vs_ansible_floor", "fresh converge vs the Ansible floor", "converge",
            "floor_ansible.yml", "converge_ansible_floor", None)
        row("noop", "no-op rerun, 1 host, without smoke", "noop", ping, "ping_floor", GOALS["noop"],
            docker=("noop_docker", "ping_floor_docker"))
        row("check", "--check --diff, 1 host, without smoke", "check", ping, "ping_floor", GOALS["check"])
        row("noop_every_role", "no-op rerun, 1 host, every role run (pacs_state_enabled=false)", "noop_every_role",
            ping, "ping_floor", None)
        for size in FLEET[1:] + (BIG_FLEET,):
            row("fleet%d" % size, "no-op rerun, %d hosts vs 1 host" % size, "fleet%d" % size,
                "no-op rerun, 1 host", "fleet1", GOALS.get("fleet%d" % size), hosts=size)
            row("fleet%d_ping" % size, "ping play, %d hosts vs 1 host" % size, "fleet%d_ping" % size,
                "ping play, 1 host", "fleet1_ping", None, hosts=size)
        row("smoke", "smoke phase, 1 host, 5 modalities", "smoke", "bare pynetdicom/requests script",
            "smoke_floor", GOALS["smoke"])
        return rows

    def slowest_run(self):
        """(name, index, seconds) of the slowest playbook run that has a profile."""
        best = None
        for name, profiles in self.profiles.items():
            for index, seconds in enumerate(self.samples[name][:len(profiles)]):
                if name not in SETUP_RUNS and (best is None or seconds > best[2]):
                    best = (name, index, seconds)
        return best

    def report(self):
        rows = self.figures()
        print("\n%-40s %8s %8s %7s %6s %7s %7s %9s %14s" % (
            "figure (over SSH)", "median s", "floor s", "ratio", "goal", "verdict", "docker", "load", "ctl cpu/peak"))
        for r in rows:
            docker = "%.2fx" % r["docker"]["ratio"] if "docker" in r else "-"
            goal = "%.1fx" % r["goal"] if r["goal"] else "-"
            print("%-40s %8.2f %8.2f %6.2fx %6s %7s %7s %9s %6.1fs/%4.0fM" % (
                r["what"][:40], r["median_s"], r["floor_median_s"], r["ratio"], goal, measure.verdict(r), docker,
                measure.load_span(r["load_at_start"]), r["cpu_s"]["controller"],
                r["controller_peak_mib"]))
            if r["hosts"] > 1:
                print("%-40s controller per host: %.2f CPU-s, %.0f MiB peak" % (
                    "", r["controller_cpu_s_per_host"], r["controller_peak_mib_per_host"]))
        if "fleet32" in self.extra:
            print("%-40s %s" % ("no-op rerun, 32 hosts vs 1 host", self.extra["fleet32"]))
        validate = self.extra.get("validate")
        sizes = validate.get("rows") if isinstance(validate, dict) else None
        if sizes:
            big = max(sizes, key=lambda r: r["modalities"])
            print("%-40s %8.2f %8s %7s %5.0fs %7s" % (
                "validation, %d hospitals x %d modalities" % (big["hospitals"], big["modalities_per_hospital"]),
                big["seconds"], "-", "-", GOALS["validate"], "met" if big["seconds"] < GOALS["validate"] else "MISSED"))
        tasks = {name: {h: c["ok"] + c["changed"] for h, c in recap.items()} for name, recap in self.recaps.items()}
        if "noop" in tasks:
            print("\nno-op run, 1 host: %s tasks ok/changed in the recap, %s ssh invocations (round trips, -vvv run)"
                  % (tasks["noop"].get("pacs1"), self.extra.get("noop_round_trips", {}).get(address("pacs1"))))
        slowest = self.slowest_run()
        if slowest:
            name, index, seconds = slowest
            print("\nprofile_tasks of the slowest run: %s #%d (%.1f s), top 25" % (name, index + 1, seconds))
            for item in measure.top_tasks(self.profiles[name][index], 25):
                print("  %7.2f s  %s" % (item["s"], item["task"]))
        result = {
            "stamp": self.stamp,
            "connection": "ssh (ControlPersist, pipelining; ansible.cfg); docker connection as a second column",
            "machine": {"cpus": os.cpu_count(),
                        "ansible": run(["ansible", "--version"], env=self.env).stdout.splitlines()[0],
                        "commit": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip(),
                        "tree_dirty": bool(run(["git", "-C", ROOT, "status", "--porcelain"], check=False).stdout)},
            "reps": {"converge": self.args.converge_reps, "fleet": self.args.fleet_reps,
                     "fleet32": self.args.fleet32_reps, "others": self.args.reps},
            "figures": rows,
            "fleet32": self.extra.get("fleet32"),
            "validate": validate,
            "load_at_start": self.loads,
            "cpu_s_controller_and_hosts": self.cpu,
            "controller_peak_mib": self.peak_mib,
            "tasks_run_per_host": tasks,
            "noop_round_trips": self.extra.get("noop_round_trips"),
            "recaps": self.recaps,
            "slowest_run": {"name": slowest[0], "seconds": round(slowest[2], 2),
                            "tasks": measure.top_tasks(self.profiles[slowest[0]][slowest[1]], 40)} if slowest else None,
            "slowest_tasks": {name: measure.top_tasks(self.profiles[name][0], 15) for name in
                              ("converge", "noop", "noop_every_role", "check", "smoke",
                               "fleet8") if name in self.profiles},
            "samples": {k: [round(v, 3) for v in vs] for k, vs in self.samples.items()},
        }
        with open(os.path.join(self.out, "figures.md"), "w") as handle:
            handle.write(measure.markdown_table(rows))
        for path in (os.path.join(self.out, "results.json"), os.path.join(RESULTS, "latest.json")):
            with open(path, "w") as handle:
                json.dump(result, handle, indent=2)
                handle.write("\n")
        print("\nresults: %s and bench/results/latest.json" % os.path.relpath(self.out, ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the 1-host runs (median)")
    parser.add_argument("--converge-reps", type=int, default=2, help="repetitions of the fresh converge")
    parser.add_argument("--fleet-reps", type=int, default=1, help="repetitions of the 1/4/8-host runs")
    parser.add_argument("--fleet32-reps", type=int, default=2, help="repetitions of the 32-host runs (median)")
    parser.add_argument("--skip-fleet32", action="store_true", help="do not try the 32-host figure")
    parser.add_argument("--force-fleet32", action="store_true", help="measure 32 hosts even over the time budget")
    parser.add_argument("--only", default="converge,noop,smoke,validate,fleet",
                        help="comma-separated sections; noop, smoke and fleet need converge")
    args = parser.parse_args()
    if shutil.which("docker") is None:
        sys.exit("bench: needs docker")
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    sections = args.only.split(",")
    try:
        bench.setup()
        # No molecule scenario runs from the first measurement to the last (~15 min):
        # the figures of one run are then measured under the same conditions.
        with molecule_lock():
            # The validation before the fleet: in the minutes after 32 hosts are removed it measured
            # 5.06 s and 5.39 s (two runs), 4.2 s alone, although the CPUs were quiet again.
            for name in ("converge", "noop", "smoke", "validate", "fleet"):
                if name in sections:
                    getattr(bench, name)()
        bench.report()
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
