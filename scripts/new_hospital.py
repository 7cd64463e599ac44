#!/usr/bin/env python3
"""Scaffold a new hospital inventory: inventories/<name>/ from the templates in templates/hospital/.

    make new-hospital NAME=<name>          (or scripts/new_hospital.py <name>)

It asks for the first Orthanc host (name, address, SSH user), its AE title, the admin
password and a vault password, then writes:

    inventories/<name>/hosts.yml
    inventories/<name>/group_vars/orthanc/main.yml    every public variable, commented
    inventories/<name>/group_vars/orthanc/vault.yml   encrypted with the vault password
    inventories/<name>/host_vars/<host>/main.yml

and runs the offline validation on it. It never overwrites an existing inventory.
Prompts read the terminal; without one (a script, CI) they read standard input, a line each.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import jinja2
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates" / "hospital"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
AET_RE = re.compile(r"^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?\Z")
# Keys of a role's argument spec shown in the commented list, in the order of site.yml.
ROLES = ("orthanc", "xnat_dqr", "pacs_firewall", "pacs_smoke", "pacs_postgresql")


def check_answers(answers: dict) -> list[str]:
    """Every problem of the answers, as '<answer>: <problem>' (empty when all is well)."""
    problems = []
    if not NAME_RE.match(answers["name"]):
        problems.append("name: %r must be lower-case letters, digits and '-' (1-63)" % answers["name"])
    if not HOST_RE.match(answers["host"]):
        problems.append("host: %r is not an inventory host name" % answers["host"])
    address = answers["address"]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        if not HOST_RE.match(address):
            problems.append("address: %r is neither an IP address nor a host name" % address)
    if not HOST_RE.match(answers["user"]):
        problems.append("user: %r is not a user name" % answers["user"])
    if not AET_RE.match(answers["aet"]):
        problems.append("aet: %r is not an AE title (1-16 printable ASCII, no backslash)" % answers["aet"])
    if len(answers["admin_password"]) < 12:
        problems.append("admin password: use at least 12 characters")
    if len(answers["vault_password"]) < 12:
        problems.append("vault password: use at least 12 characters")
    return problems


def _one_line(text) -> str:
    """A description (string or list) on one line."""
    if isinstance(text, list):
        text = " ".join(str(t) for t in text)
    return " ".join(str(text).split())


def _yaml_value(value) -> str:
    """A default as it would be written in a vars file, on one line."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def role_variables(role_dir: pathlib.Path) -> dict:
    """{name, summary, variables: [{name, description, default}]} from a role's `main` spec."""
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    variables = []
    for name, option in sorted((spec.get("options") or {}).items()):
        default = option.get("default", "(required)" if option.get("required") else None)
        variables.append({"name": name, "description": _one_line(option.get("description", "")),
                          "default": _yaml_value(default) if default != "(required)" else default})
    return {"name": role_dir.name, "summary": _one_line(spec.get("short_description", "")), "variables": variables}


def render(answers: dict) -> dict[str, str]:
    """The inventory's plain files: relative path -> text (the vault is made apart)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["yaml"] = _yaml_value  # every answer is written as a YAML scalar, quoted where needed
    roles = [role_variables(ROOT / "roles" / name) for name in ROLES if (ROOT / "roles" / name).is_dir()]
    context = {**answers, "roles": roles}
    return {
        "hosts.yml": env.get_template("hosts.yml.j2").render(context),
        "group_vars/orthanc/main.yml": env.get_template("orthanc.yml.j2").render(context),
        "host_vars/%s/main.yml" % answers["host"]: env.get_template("host.yml.j2").render(context),
    }


def vault_text(answers: dict) -> str:
    """The encrypted vault.yml holding the admin password."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    plain = "---\n# %s: secrets (ansible-vault edit this file).\n%s" % (
        answers["name"], yaml.safe_dump({"vault_orthanc_admin_password": answers["admin_password"]},
                                        default_flow_style=False, allow_unicode=True))
    vault = VaultLib([("default", VaultSecret(answers["vault_password"].encode()))])
    return vault.encrypt(plain.encode()).decode()


def ask(prompt: str, secret: bool = False, default: str | None = None) -> str:
    """One answer from the terminal, or from standard input when there is no terminal."""
    label = "%s%s: " % (prompt, " [%s]" % default if default else "")
    if secret:
        answer = getpass.getpass(label)
    else:
        answer = input(label)
    answer = answer.strip() if not secret else answer
    return answer or (default or "")


def write(folder: pathlib.Path, files: dict[str, str], vault: str) -> None:
    """Create the inventory; refuses to touch an existing folder."""
    folder.mkdir(parents=True, exist_ok=False)
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    vault_path = folder / "group_vars" / "orthanc" / "vault.yml"
    vault_path.write_text(vault)
    vault_path.chmod(0o600)


def validate(folder: pathlib.Path, vault_password: str) -> int:
    """scripts/validate.py on the new inventory, with the vault password in a private file."""
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        os.chmod(handle.name, 0o600)
        handle.write(vault_password)
    try:
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "validate.py"), "--vault-password-file",
                               handle.name, str(folder)], check=False).returncode
    finally:
        os.unlink(handle.name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the inventory's folder name under inventories/")
    parser.add_argument("--inventories", type=pathlib.Path, default=ROOT / "inventories")
    args = parser.parse_args(argv)
    folder = args.inventories / args.name
    if folder.exists():
        print("%s exists already; nothing was written" % folder, file=sys.stderr)
        return 2
    answers = {"name": args.name}
    answers["host"] = ask("First Orthanc host's inventory name", default="pacs1")
    answers["address"] = ask("Its address (IP or DNS name the controller reaches it at)")
    answers["user"] = ask("SSH user with sudo on it", default="deploy")
    answers["aet"] = ask("Orthanc's AE title", default=args.name.upper().replace("-", "_")[:16])
    answers["admin_password"] = ask("Password of Orthanc's user 'admin'", secret=True)
    answers["vault_password"] = ask("Vault password for this inventory (keep it outside git)", secret=True)
    problems = check_answers(answers)
    if problems:
        for problem in problems:
            print("new-hospital: %s" % problem, file=sys.stderr)
        return 2
    write(folder, render(answers), vault_text(answers))
    print("Wrote %s; validating it:" % folder)
    status = validate(folder, answers["vault_password"])
    if status == 0:
        print("Next: add modalities to %s/group_vars/orthanc/main.yml, then\n"
              "  ansible-playbook -i %s site.yml --ask-vault-pass --check --diff" % (folder, folder))
    return status


if __name__ == "__main__":
    sys.exit(main())
