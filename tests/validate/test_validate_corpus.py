"""The offline validator against the bad-inventory corpus, the example hospitals and itself."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
import yaml

import corpus

VALIDATOR = corpus.load_validator()
EXAMPLES = sorted(p for p in (corpus.ROOT / "inventories").iterdir()
                  if p.is_dir() and p.name != "demo")


def _problems(inventory):
    """The validator's lines without the inventory label (a temporary path)."""
    return [line.split(" ", 1)[1] for line in VALIDATOR.validate_inventory(inventory)]


def test_the_corpus_is_large_enough_and_well_formed():
    assert len(corpus.CASES) >= 30
    scopes = [corpus.load_case(path)["scope"] for path in corpus.CASES]
    assert scopes.count("host") >= 30


def test_the_base_inventory_is_valid():
    assert _problems(corpus.BASE) == []


@pytest.mark.parametrize("path", corpus.CASES, ids=[p.stem for p in corpus.CASES])
def test_bad_inventory_is_refused_with_its_message(path, tmp_path):
    case = corpus.load_case(path)
    problems = _problems(corpus.build_inventory(case, tmp_path / "inventory"))
    assert problems, "%s: the validator accepted %s" % (path.name, case["description"])
    for fragment in case["expect"]:
        assert any(fragment in line for line in problems), \
            "%s: %r not among\n%s" % (path.name, fragment, "\n".join(problems))
    host, rest = case["expect"][0].split(" ", 1)
    assert re.match(r"^[a-z_]+(\[[^\]]+\])?(\.[a-z_.]+)?: ", rest), \
        "expected '<host> <variable>[<item>]: <problem>', got %r" % case["expect"][0]
    assert host in case["host_vars"] or host == corpus.CONVERGED_HOST


@pytest.mark.parametrize("inventory", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_hospital_is_valid(inventory):
    assert (inventory / "README.md").is_file()
    assert _problems(inventory) == []


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"small-clinic", "research-hospital", "container-site"}


def test_command_reports_every_problem_of_every_inventory_at_once(tmp_path):
    bad = []
    for name in ("01-aet-too-long.yml", "40-firewall-bad-cidr.yml", "45-hospital-duplicate-orthanc-aet.yml"):
        case = corpus.load_case(corpus.CORPUS / "cases" / name)
        bad.append((corpus.build_inventory(case, tmp_path / name), case["expect"]))
    run = subprocess.run([sys.executable, str(corpus.ROOT / "scripts" / "validate.py"),
                          str(corpus.BASE)] + [str(inv) for inv, _ in bad],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    for inventory, expect in bad:
        for fragment in expect:
            assert "%s %s" % (inventory, fragment) in lines or any(
                line.startswith(str(inventory) + " ") and fragment in line for line in lines), run.stdout
    assert not any(line.startswith(str(corpus.BASE)) for line in lines)
    assert "problem(s) in 3 of 4 inventories" in run.stderr


def test_parallel_validation_prints_what_one_process_prints_in_the_same_order(tmp_path):
    """--jobs: the inventories are validated in several processes, the output is the same."""
    names = ("01-aet-too-long.yml", "40-firewall-bad-cidr.yml", "45-hospital-duplicate-orthanc-aet.yml")
    inventories = [str(corpus.build_inventory(corpus.load_case(corpus.CORPUS / "cases" / name), tmp_path / name))
                   for name in names]
    outputs = [subprocess.run([sys.executable, str(corpus.ROOT / "scripts" / "validate.py"), "--jobs", jobs,
                               *inventories, str(corpus.BASE)], capture_output=True, text=True, check=False,
                              timeout=300).stdout for jobs in ("1", "3")]
    assert outputs[0] == outputs[1]
    starts = [next(i for i, line in enumerate(outputs[0].splitlines()) if line.startswith(inv + " "))
              for inv in inventories]
    assert starts == sorted(starts)


def test_command_passes_on_good_inventories():
    run = subprocess.run([sys.executable, str(corpus.ROOT / "scripts" / "validate.py"), str(corpus.BASE)]
                         + [str(p) for p in EXAMPLES], capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""


def test_a_wrong_vault_password_is_reported(tmp_path):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    problems = VALIDATOR.validate_inventory(corpus.BASE, vault_password_file=str(wrong))
    assert problems and all("vault" in p.lower() or "decrypt" in p.lower() for p in problems), problems


_SECRET_KEY = re.compile(r"(password|secret|token|private_key|passwd)", re.IGNORECASE)


def _clear_text_secrets(node, where):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and _SECRET_KEY.search(str(key)) and value \
                    and not re.fullmatch(r"\{\{\s*vault_[a-z0-9_]+\s*\}\}", value):
                yield "%s.%s" % (where, key)
            yield from _clear_text_secrets(value, "%s.%s" % (where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _clear_text_secrets(value, "%s[%d]" % (where, index))


def test_no_clear_text_password_in_inventories_or_corpus():
    roots = [corpus.ROOT / "inventories", corpus.CORPUS]
    found, vaulted = [], 0
    for root in roots:
        for path in sorted(root.rglob("*.yml")):
            text = path.read_text()
            if text.startswith("$ANSIBLE_VAULT;"):
                vaulted += 1
                continue
            assert "vault_" not in path.name, "%s should be vaulted" % path
            found.extend(_clear_text_secrets(yaml.safe_load(text), str(path.relative_to(corpus.ROOT))))
    assert found == []
    assert vaulted >= 4


def test_the_validator_never_needs_a_connection(monkeypatch):
    """No connection plugin is loaded: the validator only reads files."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the validator opened a network connection: %r" % (args,))

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert _problems(corpus.BASE) == []
