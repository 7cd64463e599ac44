#!/usr/bin/env python3
"""Write each role's variable table into its README from meta/argument_specs.yml.

The table sits between the markers
    <!-- BEGIN VARIABLES (from meta/argument_specs.yml) -->
    <!-- END VARIABLES -->
Usage: scripts/argspec_docs.py [--check] [ROLE_DIR ...]
With --check nothing is written; the exit code is 1 when a README has drifted.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = "<!-- BEGIN VARIABLES (from meta/argument_specs.yml) -->"
END = "<!-- END VARIABLES -->"


def _cell(text) -> str:
    if isinstance(text, list):
        text = " ".join(str(t) for t in text)
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _default(spec) -> str:
    if "default" not in spec:
        return "required" if spec.get("required") else ""
    value = spec["default"]
    if value in ("", [], {}):
        return f"`{value!r}`" if value == "" else f"`{yaml.safe_dump(value, default_flow_style=True).strip()}`"
    return f"`{_cell(value if not isinstance(value, bool) else str(value).lower())}`"


def render_table(spec_file: pathlib.Path) -> str:
    """The Markdown variable table of a role's `main` entry point."""
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options", {})
    lines = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name in sorted(options):
        spec = options[name]
        kind = spec.get("type", "str")
        if kind == "list" and spec.get("elements"):
            kind = f"list of {spec['elements']}"
        description = _cell(spec.get("description", ""))
        if spec.get("choices"):
            description += " Choices: " + ", ".join(f"`{c}`" for c in spec["choices"]) + "."
        sub = spec.get("options")
        if sub:
            description += " Keys: " + ", ".join(
                f"`{key}`{' (required)' if sub[key].get('required') else ''}" for key in sub) + "."
        lines.append(f"| `{name}` | {kind} | {_default(spec)} | {description} |")
    return "\n".join(lines)


def update(readme: pathlib.Path, table: str) -> str:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    parser.add_argument("roles", nargs="*", type=pathlib.Path)
    args = parser.parse_args(argv)
    roles = [role.resolve() for role in args.roles] or sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    drifted = []
    for role in roles:
        readme = role / "README.md"
        new = update(readme, render_table(role / "meta" / "argument_specs.yml"))
        if new != readme.read_text():
            drifted.append(str(readme.relative_to(ROOT)))
            if not args.check:
                readme.write_text(new)
    if drifted and args.check:
        print("Variable tables out of date (run scripts/argspec_docs.py): " + ", ".join(drifted))
        return 1
    for name in drifted:
        print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
