"""Benchmarks of pacs-provisioner's main jobs, each as a ratio against a floor
measured in the same run on the same machine (shared, noisy machines: absolute
seconds mean little). Not part of the test suite.

    .venv/bin/python bench/run.py                  # everything, ~15 min
    .venv/bin/python bench/run.py --only noop,smoke --reps 3

Figures: fresh converge vs a plain shell script; no-op rerun and check mode vs an
ansible ping play on the same inventory; fleet scaling 1/4/8 hosts; the smoke phase
vs a bare pynetdicom/requests script; offline validation at scale
(bench/validate_scale.py). Everything runs in local containers on the docker
network pp-bench (172.28.50.0/24), removed at the end, also on failure.
Results: a table on stdout, bench/results/<stamp>/ (logs, JSON) and
bench/results/latest.json.
"""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PYTHON = sys.executable
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
INVENTORY = os.path.join(BENCH, "inventory")
VAULT = os.path.join(BENCH, ".vault-password-bench-only")
RESULTS = os.path.join(BENCH, "results")

PREFIX = "pp-bench"
NETWORK, SUBNET, GATEWAY = PREFIX, "172.28.50.0/24", "172.28.50.1"
APT_VOLUME = PREFIX + "-apt"
CONVERGED_IMAGE = "pp-bench/converged:latest"
BASE_IMAGE = "local/debian12-systemd:latest"
HOSTS = ["pacs%d" % i for i in range(1, 9)]
FLOOR_HOST, FLOOR_IP = PREFIX + "-floor", "172.28.50.40"
MODALITY_PORTS = [11121, 11122, 11123, 11124, 11125]
PACKAGES = ["orthanc", "orthanc-dicomweb", "curl", "nftables"]
SYSTEMD_ARGS = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--cgroupns=host"]
GOALS = {"converge": 1.3, "noop": 5.0, "noop_smoke": 5.0, "check": 5.0, "fleet8": 2.5, "smoke": 3.0,
         "validate": 10.0}
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")
PROFILE = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s$")


def container(host):
    return "%s-%s" % (PREFIX, host)


def address(host):
    return "172.28.50.%d" % (10 + HOSTS.index(host) + 1)


def run(argv, check=True, **kwargs):
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kwargs)


def load():
    return os.getloadavg()[0]


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.out = os.path.join(RESULTS, self.stamp)
        os.makedirs(self.out, exist_ok=True)
        self.samples = {}       # name -> [seconds]
        self.recaps = {}        # name -> last recap {host: counts}
        self.profiles = {}      # name -> {task: [seconds]}
        self.loads = {}         # section -> [load before, load after]
        self.extra = {}
        self.modalities = None
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        PROFILE_TASKS_TASK_OUTPUT_LIMIT="all", PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
        self.counter = 0
        self.cpu = {}           # name -> [[controller CPU s, bench containers' CPU s]]

    def containers_cpu(self):
        """CPU seconds used so far by the running bench containers (cgroup v1 cpuacct)."""
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
    def timed(self, name, argv, log=None, **kwargs):
        """Run argv, record its wall time under name, return the completed process."""
        usage, hosts_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), self.containers_cpu()
        start = time.perf_counter()
        proc = subprocess.run(argv, text=True, capture_output=True, cwd=ROOT, env=kwargs.pop("env", self.env),
                              **kwargs)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = [after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, self.containers_cpu() - hosts_cpu]
        self.cpu.setdefault(name, []).append([round(cpu[0], 2), round(cpu[1], 2)])
        self.counter += 1
        with open(os.path.join(self.out, "%03d-%s.log" % (self.counter, log or name)), "w") as handle:
            handle.write("$ %s\n# %.2f s, rc %d\n%s\n%s" % (" ".join(argv), seconds, proc.returncode,
                                                           proc.stdout, proc.stderr))
        if proc.returncode != 0:
            sys.exit("bench: %s failed (rc %d), see %s\n%s" % (name, proc.returncode, self.out,
                                                             (proc.stdout + proc.stderr)[-3000:]))
        self.samples.setdefault(name, []).append(seconds)
        print("  %-22s %7.2f s  cpu: controller %6.2f s, hosts %6.2f s  (load %.1f)"
              % (name, seconds, cpu[0], cpu[1], load()), flush=True)
        return proc

    def playbook(self, name, playbook, hosts, extra=(), expect_changes=False, env=None):
        argv = ["ansible-playbook", "-i", INVENTORY, "--vault-password-file", VAULT,
                "--limit", ",".join(hosts), playbook] + list(extra)
        proc = self.timed(name, argv, env=dict(self.env, **(env or {})))
        recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed", "skipped"),
                                      map(int, m.groups()[1:])))
                 for m in map(RECAP.match, proc.stdout.splitlines()) if m}
        if not expect_changes:
            changed = {h: c["changed"] for h, c in recap.items() if c["changed"]}
            if changed:
                sys.exit("bench: %s was meant to change nothing but changed %s; see %s" % (name, changed, self.out))
        self.recaps[name] = recap
        profile = self.profiles.setdefault(name, {})
        this_run = {}  # a task name listed twice (included twice) is summed
        for line in proc.stdout.split("=" * 20)[-1].splitlines():
            match = PROFILE.match(line.strip())
            if match:
                this_run[match.group(1).strip()] = this_run.get(match.group(1).strip(), 0.0) + float(match.group(2))
        for task, seconds in this_run.items():
            profile.setdefault(task, []).append(seconds)
        return proc

    def section(self, name):
        print("== %s (load %.1f)" % (name, load()), flush=True)
        self.loads[name] = [round(load(), 2)]

    def end_section(self, name):
        self.loads[name].append(round(load(), 2))

    # ---- containers ---------------------------------------------------------
    def start_host(self, name, ip, image, apt_cache=True):
        run(["docker", "rm", "-f", name], check=False)
        argv = ["docker", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK, "--ip", ip]
        argv += SYSTEMD_ARGS + (["-v", APT_VOLUME + ":/var/cache/apt/archives"] if apt_cache else [])
        run(argv + [image, "/lib/systemd/systemd"])

    def wait_systemd(self, name):
        deadline, state = time.time() + 90, ""
        while time.time() < deadline:  # "offline" until PID 1 has its bus up
            state = run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"],
                        check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        sys.exit("bench: systemd in %s is %r" % (name, state))

    def setup(self):
        self.section("setup")
        self.cleanup(quiet=True)
        run(["docker", "network", "create", "--subnet", SUBNET, NETWORK])
        run(["docker", "volume", "create", APT_VOLUME])
        self.modalities = subprocess.Popen([PYTHON, os.path.join(BENCH, "modalities.py"), GATEWAY]
                                           + [str(p) for p in MODALITY_PORTS],
                                           stdout=subprocess.PIPE, text=True)
        if self.modalities.stdout.readline().strip() != "ready":
            sys.exit("bench: the modality SCPs did not start")
        # Warm a shared apt archive: both the converge and its floor then install from
        # it, so the mirror's download speed is not part of either figure.
        print("  warming the apt archive volume %s" % APT_VOLUME, flush=True)
        run(["docker", "run", "--rm", "-v", APT_VOLUME + ":/var/cache/apt/archives", "--network", NETWORK,
             "--entrypoint", "sh", BASE_IMAGE, "-c",
             "apt-get update -qq && apt-get install -y -qq --download-only --no-install-recommends "
             + " ".join(PACKAGES + ["python3-apt"])])
        self.end_section("setup")

    def cleanup(self, quiet=False):
        names = [container(h) for h in HOSTS] + [FLOOR_HOST]
        run(["docker", "rm", "-f"] + names, check=False)
        run(["docker", "network", "rm", NETWORK], check=False)
        run(["docker", "volume", "rm", APT_VOLUME], check=False)
        run(["docker", "rmi", CONVERGED_IMAGE], check=False)
        if self.modalities and self.modalities.poll() is None:
            self.modalities.terminate()
            self.modalities.wait(timeout=10)
        if not quiet:
            print("== cleaned up the pp-bench containers, network, volume and image", flush=True)

    # ---- the figures --------------------------------------------------------
    def converge(self):
        """1. Fresh converge of one host (site.yml without smoke) vs a shell script."""
        self.section("converge")
        files = os.path.join(self.out, "floor-files")
        pacs1 = container("pacs1")
        for rep in range(self.args.converge_reps):
            self.start_host(pacs1, address("pacs1"), BASE_IMAGE)
            self.wait_systemd(pacs1)
            self.playbook("converge", "site.yml", ["pacs1"], ["--skip-tags", "smoke"], expect_changes=True)
            if rep == 0:
                os.makedirs(files, exist_ok=True)
                run(["docker", "cp", pacs1 + ":/etc/orthanc/orthanc.json", files])
                run(["docker", "cp", pacs1 + ":/etc/nftables.d/pacs_provisioner.nft", files])
            self.start_host(FLOOR_HOST, FLOOR_IP, BASE_IMAGE)
            self.wait_systemd(FLOOR_HOST)
            self.timed("converge_floor", ["bash", os.path.join(BENCH, "floor_converge.sh"), FLOOR_HOST, files])
            run(["docker", "rm", "-f", FLOOR_HOST], check=False)
        shutil.rmtree(files)  # it holds the rendered secrets
        self.end_section("converge")

    def noop(self):
        """2. No-op rerun (with and without the smoke play) and check mode vs a ping play."""
        self.section("noop")
        for _ in range(self.args.reps):
            self.playbook("ping_floor", os.path.join(BENCH, "floor_ping.yml"), ["pacs1"])
            self.playbook("noop", "site.yml", ["pacs1"], ["--skip-tags", "smoke"])
            self.playbook("noop_smoke", "site.yml", ["pacs1"])
            self.playbook("check", "site.yml", ["pacs1"], ["--check"])
            # ansible.cfg turns pipelining on in [ssh_connection] only; the docker
            # connection reads [connection]/[defaults] pipelining (ANSIBLE_PIPELINING).
            self.playbook("noop_pipelining", "site.yml", ["pacs1"], ["--skip-tags", "smoke"],
                          env={"ANSIBLE_PIPELINING": "True"})
        self.end_section("noop")

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
        for _ in range(self.args.reps):
            self.timed("smoke_floor", [PYTHON, os.path.join(BENCH, "floor_smoke.py"), path])
            self.playbook("smoke", "playbooks/smoke.yml", ["pacs1"])
        os.remove(path)
        self.end_section("smoke")

    def fleet(self):
        """3. The no-op rerun on 1, 4 and 8 hosts (clones of the converged host)."""
        self.section("fleet")
        run(["docker", "commit", container("pacs1"), CONVERGED_IMAGE])
        for host in HOSTS[1:]:
            self.start_host(container(host), address(host), CONVERGED_IMAGE, apt_cache=False)
        for host in HOSTS[1:]:
            self.wait_systemd(container(host))
        # Each clone has its own AE title: converge their Orthanc once (not measured;
        # the rest of a clone is already what site.yml makes).
        self.playbook("fleet_warmup", "site.yml", HOSTS, ["--tags", "orthanc"], expect_changes=True)
        for _ in range(self.args.fleet_reps):
            for size in (1, 4, 8):
                self.playbook("fleet%d" % size, "site.yml", HOSTS[:size], ["--skip-tags", "smoke"])
                self.playbook("fleet%d_ping" % size, os.path.join(BENCH, "floor_ping.yml"), HOSTS[:size])
        self.end_section("fleet")

    def validate(self):
        """5. Offline validation of 50 hospitals x 200 modalities (bench/validate_scale.py)."""
        script = os.path.join(BENCH, "validate_scale.py")
        if not os.path.exists(script):
            print("== validate: bench/validate_scale.py does not exist yet, figure 5 skipped", flush=True)
            self.extra["validate"] = "skipped: bench/validate_scale.py missing"
            return
        self.section("validate")
        target = os.path.join(self.out, "validate-scale.json")
        proc = self.timed("validate_scale", [PYTHON, script, "--json", target])
        try:
            with open(target) as handle:
                self.extra["validate"] = json.load(handle)
        except (OSError, ValueError):
            self.extra["validate"] = {"stdout": proc.stdout[-2000:]}
        self.end_section("validate")

    # ---- report -------------------------------------------------------------
    def median(self, name):
        values = self.samples.get(name)
        return statistics.median(values) if values else None

    def cpu_median(self, name):
        """Median CPU seconds of a run: controller (ansible + docker CLI), hosts (containers)."""
        runs = self.cpu.get(name) or [[0, 0]]
        return {"controller": round(statistics.median(r[0] for r in runs), 2),
                "hosts": round(statistics.median(r[1] for r in runs), 2)}

    def figures(self):
        rows = []

        def row(key, what, name, floor_what, floor_name, goal):
            value, floor = self.median(name), self.median(floor_name)
            if value is None or floor is None:
                return
            ratio = value / floor
            rows.append({"figure": key, "what": what, "median_s": round(value, 2), "floor": floor_what,
                         "floor_median_s": round(floor, 2), "ratio": round(ratio, 2), "goal": goal,
                         "met": ratio <= goal, "samples": [round(v, 2) for v in self.samples[name]],
                         "floor_samples": [round(v, 2) for v in self.samples[floor_name]],
                         "cpu_s": self.cpu_median(name), "floor_cpu_s": self.cpu_median(floor_name)})

        row("converge", "fresh converge, 1 host (site.yml --skip-tags smoke)", "converge",
            "shell script: apt-get, copy config, start", "converge_floor", GOALS["converge"])
        row("noop", "no-op rerun, 1 host, without smoke", "noop", "ping play, no facts", "ping_floor", GOALS["noop"])
        row("noop_smoke", "no-op rerun, 1 host, with smoke", "noop_smoke", "ping play, no facts", "ping_floor",
            GOALS["noop_smoke"])
        row("check", "check mode (drift detection), 1 host", "check", "ping play, no facts", "ping_floor",
            GOALS["check"])
        row("noop_pipelining", "no-op rerun, 1 host, ANSIBLE_PIPELINING=True", "noop_pipelining",
            "ping play, no facts", "ping_floor", GOALS["noop"])
        row("fleet4", "no-op rerun, 4 hosts vs 1 host", "fleet4", "no-op rerun, 1 host", "fleet1", GOALS["fleet8"])
        row("fleet8", "no-op rerun, 8 hosts vs 1 host", "fleet8", "no-op rerun, 1 host", "fleet1", GOALS["fleet8"])
        row("fleet8_ping", "ping play, 8 hosts vs 1 host (Ansible's own scaling)", "fleet8_ping",
            "ping play, 1 host", "fleet1_ping", GOALS["fleet8"])
        row("smoke", "smoke phase, 1 host, 5 modalities", "smoke", "bare pynetdicom/requests script",
            "smoke_floor", GOALS["smoke"])
        return rows

    def profile_summary(self, name, top=15):
        tasks = {task: statistics.median(values) for task, values in self.profiles.get(name, {}).items()}
        return [{"task": task, "median_s": round(sec, 2)}
                for task, sec in sorted(tasks.items(), key=lambda kv: -kv[1])[:top]]

    def report(self):
        rows = self.figures()
        print("\n%-52s %8s %8s %7s %6s %4s %13s" % ("figure", "median s", "floor s", "ratio", "goal", "met",
                                                      "cpu ctl/hosts"))
        for r in rows:
            print("%-52s %8.2f %8.2f %6.2fx %5.1fx %4s %6.1f/%-6.1f" % (
                r["what"][:52], r["median_s"], r["floor_median_s"], r["ratio"], r["goal"],
                "yes" if r["met"] else "NO", r["cpu_s"]["controller"], r["cpu_s"]["hosts"]))
        validate = self.extra.get("validate")
        sizes = validate.get("rows") if isinstance(validate, dict) else None
        if sizes:
            big = max(sizes, key=lambda r: r["modalities"])
            print("%-52s %8.2f %8s %7s %5.0fs %4s" % (
                "offline validation, %d hospitals x %d modalities" % (big["hospitals"], big["modalities_per_hospital"]),
                big["seconds"], "-", "-", GOALS["validate"], "yes" if big["seconds"] < GOALS["validate"] else "NO"))
            print("  ms per modality by size: %s" % ", ".join(
                "%dx%d: %.2f" % (r["hospitals"], r["modalities_per_hospital"], r["ms_per_modality"]) for r in sizes))
        elif validate:
            print("offline validation at scale: %s" % validate)
        tasks = {name: {h: c["ok"] + c["changed"] for h, c in recap.items()} for name, recap in self.recaps.items()}
        result = {
            "stamp": self.stamp,
            "machine": {"cpus": os.cpu_count(), "load_per_section": self.loads,
                        "ansible": run(["ansible", "--version"], env=self.env).stdout.splitlines()[0],
                        "commit": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()},
            "reps": {"converge": self.args.converge_reps, "fleet": self.args.fleet_reps, "others": self.args.reps},
            "cpu_s_controller_and_hosts": self.cpu,
            "figures": rows,
            "validate": validate,
            "tasks_run_per_host": tasks,
            "recaps": self.recaps,
            "slowest_tasks": {name: self.profile_summary(name) for name in
                              ("converge", "noop", "noop_smoke", "check", "smoke", "fleet8") if name in self.profiles},
            "samples": {k: [round(v, 3) for v in vs] for k, vs in self.samples.items()},
        }
        for path in (os.path.join(self.out, "results.json"), os.path.join(RESULTS, "latest.json")):
            with open(path, "w") as handle:
                json.dump(result, handle, indent=2)
                handle.write("\n")
        print("\nresults: %s and bench/results/latest.json" % os.path.relpath(self.out, ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the 1-host runs (median)")
    parser.add_argument("--converge-reps", type=int, default=2, help="repetitions of the fresh converge")
    parser.add_argument("--fleet-reps", type=int, default=2, help="repetitions of the 1/4/8-host runs")
    parser.add_argument("--only", default="converge,noop,smoke,fleet,validate",
                        help="comma-separated sections; noop, smoke and fleet need converge")
    args = parser.parse_args()
    if shutil.which("docker") is None:
        sys.exit("bench: needs docker")
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    sections = args.only.split(",")
    try:
        bench.setup()
        for name in ("converge", "noop", "smoke", "fleet", "validate"):
            if name in sections:
                getattr(bench, name)()
        bench.report()
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
