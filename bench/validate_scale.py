#!/usr/bin/env python3
"""Benchmark of the offline validator (scripts/validate.py) at growing sizes.

    .venv/bin/python bench/validate_scale.py [--sizes 1x200,10x200,25x200,50x200] [--json FILE]

Generates hospitals (one vaulted inventory each: an Orthanc host with N modalities,
two XNATs, a DICOMweb server, firewall networks) in a temporary folder, times the
real command on each size (one process per size, all inventories at once), checks
that every generated hospital passes, prints a table and writes JSON
(default bench/results/validate_scale.json). Linear scaling shows as a flat
"ms per modality" column.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "scripts" / "validate.py"
PASSWORD = "pacs-provisioner-bench-only-not-a-secret"


def _vault(text):
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel
    return VaultLib([("default", VaultSecret(PASSWORD.encode()))]).encrypt(text).decode()


def generate_hospital(folder, number, modalities):
    """One hospital inventory in folder; addresses are generated examples, never contacted."""
    net = "10.%d.%d" % (100 + number // 200, number % 200)
    (folder / "group_vars" / "orthanc").mkdir(parents=True)
    (folder / ".vault-password-bench-only").write_text(PASSWORD + "\n")
    hosts = {"all": {"children": {"orthanc": {"hosts": {"pacs%d" % number: {"ansible_host": "%s.1" % net}}}}}}
    (folder / "hosts.yml").write_text("---\n" + yaml.safe_dump(hosts))
    mods = [{"name": "MOD_%03d" % i, "aet": "H%d_M%03d" % (number, i),
             "host": "%s.%d" % (net, 10 + i % 240), "port": 104 + i // 240,
             "allow_find": i % 7 == 0, "allow_move": i % 7 == 0} for i in range(modalities)]
    xnats = [{"name": "XNAT_%s" % n, "url": "https://xnat-%s-%d.example.org" % (n.lower(), number),
              "username": "admin", "password": "{{ vault_xnat_password }}",
              "receiver": {"aet": "XNAT_%s" % n, "host": "%s.25%d" % (net, k), "port": 8104},
              "schedule": [{"days": ["MONDAY", "FRIDAY"], "start": "19:00", "end": "24:00"}]}
             for k, n in enumerate(("A", "B"))]
    main = {"orthanc_name": "Bench Hospital %d" % number, "orthanc_dicom_aet": "HOSP%d" % number, "orthanc_dicom_port": 4242,
            "orthanc_users": [{"name": "admin", "password": "{{ vault_admin_password }}"}],
            "orthanc_modalities": mods, "xnat_dqr_servers": xnats,
            "orthanc_dicomweb_servers": [{"name": "archive", "url": "https://archive%d.example.org/dicom-web/" % number,
                                          "username": "svc", "password": "{{ vault_dicomweb_password }}"}],
            "pacs_firewall_admin_cidrs": ["%s.0/28" % net], "pacs_firewall_http_cidrs": ["%s.0/24" % net]}
    (folder / "group_vars" / "orthanc" / "main.yml").write_text("---\n" + yaml.safe_dump(main, sort_keys=False))
    secrets = {"vault_admin_password": "bench-admin-%08x" % (number * 2654435761 % 2**32),
               "vault_xnat_password": "bench-xnat-%08x" % (number * 40503 % 2**32),
               "vault_dicomweb_password": "bench-dw-%08x" % (number * 69069 % 2**32)}
    (folder / "group_vars" / "orthanc" / "vault.yml").write_text(_vault("---\n" + yaml.safe_dump(secrets)))


def time_validator(inventories):
    start = time.monotonic()
    run = subprocess.run([sys.executable, str(VALIDATOR), *map(str, inventories)],
                         capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit("the validator refused generated hospitals:\n%s%s" % (run.stdout[-3000:], run.stderr))
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="1x200,10x200,25x200,50x200",
                        help="comma-separated HOSPITALSxMODALITIES (default %(default)s)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "validate_scale.json"))
    args = parser.parse_args(argv)
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pp-val-bench-") as tmp:
        for hospitals, modalities in sizes:
            folder = pathlib.Path(tmp) / ("%dx%d" % (hospitals, modalities))
            inventories = []
            for number in range(hospitals):
                generate_hospital(folder / ("hospital%02d" % number), number, modalities)
                inventories.append(folder / ("hospital%02d" % number))
            seconds = time_validator(inventories)
            rows.append({"hospitals": hospitals, "modalities_per_hospital": modalities,
                         "modalities": hospitals * modalities, "seconds": round(seconds, 2),
                         "ms_per_modality": round(1000 * seconds / (hospitals * modalities), 3)})
    print("%9s %11s %10s %9s %16s" % ("hospitals", "modalities", "total", "seconds", "ms per modality"))
    for row in rows:
        print("%9d %11d %10d %9.2f %16.3f" % (row["hospitals"], row["modalities_per_hospital"], row["modalities"],
                                               row["seconds"], row["ms_per_modality"]))
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "scripts/validate.py <inventories>", "rows": rows}, indent=2) + "\n")
    print("written: %s" % out)


if __name__ == "__main__":
    main()
