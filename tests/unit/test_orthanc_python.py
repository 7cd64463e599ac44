"""Unit tests of the orthanc role's Python scripts (orthanc_python_scripts): the checks and
filters in filter_plugins/orthanc.py, what vars/main.yml renders from them, and the entry
script (templates/python-entry.py.j2) run the way Orthanc's Python plugin runs it.

What the plugin does is taken from the plugin itself, not from the role: Debian's
orthanc-python (4.0 on Debian 12, 5.0 on Debian 13 and in images/orthancteam) logs
'Using Python script "entry.py" from directory: /cfg/py', puts that directory first on
sys.path (sys.path[0] == '/cfg/py' printed from a script it ran) and imports the script as
the module named by its file (__name__ == 'entry'); an exception raised while importing
stops Orthanc ("Error while initializing plugin ... (code -1)"). Debian's package ships
/etc/orthanc/python.json naming "PythonScript": "/etc/orthanc/sample.py".
"""

import json
import pathlib
import subprocess
import sys

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

import filter_plugins_loader  # noqa: F401  pylint: disable=unused-import
from orthanc import MANAGED_KEYS, PYTHON_ENTRY, FilterModule
from role_templar import orthanc_role_value

F = FilterModule().filters()
ROOT = pathlib.Path(__file__).resolve().parents[2]
PING = {"name": "pacs_ping.py", "content": "import orthanc\n"}
HELPER = {"name": "pacs_answers.py", "content": "ANSWER = 42\n"}


def errors(scripts, **settings):
    return F["orthanc_python_errors"]({"orthanc_python_scripts": scripts, **settings})


def test_the_filters_are_registered():
    assert {"orthanc_python_errors", "orthanc_python_set_id", "orthanc_python_script"} <= set(F)


def test_good_scripts_pass():
    assert errors([HELPER, PING]) == []
    assert errors([]) == [] and errors(None) == []


@pytest.mark.parametrize("name, problem", [
    ("ping", "must be a Python module name and .py"),
    ("pacs-ping.py", "must be a Python module name and .py"),    # importlib could, `import` could not
    ("1ping.py", "must be a Python module name and .py"),
    ("ping.PY", "must be a Python module name and .py"),
    ("dir/ping.py", "must be a Python module name and .py"),
    ("ping.py\n", "must be a Python module name and .py"),
    ("", "must be a Python module name and .py"),
    (7, "must be a Python module name and .py"),
    (PYTHON_ENTRY, "is the entry script the role renders"),
    ("json.py", "has the name of the module 'json'"),
    ("logging.py", "has the name of the module 'logging'"),
    ("orthanc.py", "has the name of the module 'orthanc'"),
])
def test_a_name_python_cannot_import_or_that_would_replace_a_module_is_refused(name, problem):
    found = errors([{"name": name, "content": "x = 1\n"}])
    assert len(found) == 1 and found[0].startswith(f"orthanc_python_scripts[{name if name != '' else '#0'}].name: ")
    assert problem in found[0]


def test_duplicates_are_refused_even_without_case_naming_both():
    assert errors([PING, {"name": "PACS_PING.py", "content": "x = 1\n"}]) == [
        "orthanc_python_scripts[PACS_PING.py].name: 'PACS_PING.py' is already used by "
        "orthanc_python_scripts[pacs_ping.py]; names must be unique (compared without case)"]


def test_empty_content_unknown_keys_and_wrong_shapes_are_named():
    assert errors([{"name": "a.py", "content": "  \n"}]) == [
        "orthanc_python_scripts[a.py].content: must be the script's text (a non-empty string), got str"]
    assert errors([{"name": "a.py"}]) == [
        "orthanc_python_scripts[a.py].content: must be the script's text (a non-empty string), got NoneType"]
    assert errors([{"name": "a.py", "content": "x = 1\n", "src": "files/a.py"}]) == [
        "orthanc_python_scripts[a.py]: unknown key(s) src; an item has name and content"]
    assert errors(["a.py"]) == ["orthanc_python_scripts[0]: must be a dict with name and content, got str 'a.py'"]
    assert errors({"name": "a.py"}) == ["orthanc_python_scripts: must be a list of {name, content}, got dict"]


def test_a_secret_in_a_script_never_reaches_a_message():
    found = errors([{"name": "bad-name.py", "content": "PASSWORD = 'hunter2-secret'\n"}])
    assert found and not any("hunter2" in line for line in found)


def test_the_containers_python_plugin_switched_off_is_refused():
    assert errors([PING], orthanc_install_method="container", orthanc_container_plugins={"Python": False}) == [
        "orthanc_container_plugins[Python]: false while orthanc_python_scripts is set; the image would not "
        "start the Python plugin and the scripts would never run"]
    assert errors([PING], orthanc_install_method="container", orthanc_container_plugins={"Python": True}) == []
    assert errors([], orthanc_install_method="container", orthanc_container_plugins={"Python": False}) == []


def test_the_role_check_reports_them_and_python_script_has_one_source():
    from test_filter_orthanc import valid_settings  # pylint: disable=import-outside-toplevel

    found = F["orthanc_config_errors"](valid_settings(orthanc_python_scripts=[{"name": "json.py", "content": "x=1"}]))
    assert [line.split(":")[0] for line in found] == ["orthanc_python_scripts[json.py].name"]
    assert MANAGED_KEYS["PythonScript"] == "orthanc_python_scripts"
    found = F["orthanc_config_errors"](valid_settings(orthanc_extra_config={"PythonScript": "/x.py"}))
    assert found == ["orthanc_extra_config[PythonScript]: PythonScript is managed by orthanc_python_scripts; "
                     "set orthanc_python_scripts instead so one Orthanc key has one source"]


def test_a_set_of_scripts_is_named_by_its_names_contents_and_order():
    set_id = F["orthanc_python_set_id"]
    first = set_id([HELPER, PING])
    assert len(first) == 12 and int(first, 16) >= 0
    assert set_id([dict(HELPER), dict(PING)]) == first
    assert set_id([PING, HELPER]) != first
    assert set_id([HELPER, {**PING, "content": PING["content"] + "\n"}]) != first
    assert set_id([HELPER, {**PING, "name": "pacs_ping2.py"}]) != first
    assert set_id([]) == "" and set_id(None) == ""


def test_python_script_is_the_entry_in_the_folder_of_the_set():
    script = F["orthanc_python_script"]
    set_id = F["orthanc_python_set_id"]([PING])
    assert script([PING], "/etc/orthanc") == f"/etc/orthanc/python/{set_id}/{PYTHON_ENTRY}"
    assert script([PING], "/srv/pacs/etc/") == f"/srv/pacs/etc/python/{set_id}/{PYTHON_ENTRY}"
    assert script([], "/etc/orthanc") == ""
    with pytest.raises(Exception, match="absolute folder"):
        script([PING], "etc/orthanc")


# --- what vars/main.yml makes of them ------------------------------------------------------

def test_the_package_method_installs_loads_and_names_the_plugin_only_with_scripts():
    entry = F["orthanc_python_script"]([PING], "/etc/orthanc")
    assert "orthanc-python" in orthanc_role_value("{{ __orthanc_packages }}", orthanc_python_scripts=[PING])
    assert "/usr/share/orthanc/plugins/libOrthancPython.so" in orthanc_role_value(
        "{{ __orthanc_plugins }}", orthanc_python_scripts=[PING])
    assert orthanc_role_value("{{ __orthanc_config.PythonScript }}", orthanc_python_scripts=[PING]) == entry
    assert orthanc_role_value("{{ __orthanc_python_check }}", orthanc_python_scripts=[PING]) == "python3 -m py_compile %s"
    assert "orthanc-python" not in orthanc_role_value("{{ __orthanc_packages }}")
    assert not any("Python" in p for p in orthanc_role_value("{{ __orthanc_plugins }}"))
    assert "PythonScript" not in orthanc_role_value("{{ __orthanc_config }}")
    # Debian's python.json (a PythonScript of its own) is kept as {}: a key twice is fatal.
    assert "python.json" in orthanc_role_value("{{ __orthanc_package_config_files }}")


def test_the_container_method_names_the_script_where_the_container_sees_it():
    inventory = {"orthanc_install_method": "container", "orthanc_config_dir": "/srv/pp/etc",
                 "orthanc_python_scripts": [PING], "orthanc_container_image": "orthancteam/orthanc:26.8.1"}
    assert orthanc_role_value("{{ __orthanc_config.PythonScript }}", **inventory) == F["orthanc_python_script"](
        [PING], "/etc/orthanc")
    assert orthanc_role_value("{{ __orthanc_python_entry }}", **inventory) == F["orthanc_python_script"](
        [PING], "/srv/pp/etc")
    # The image's folders stay the plugin list, so its default plugins stay on.
    assert orthanc_role_value("{{ __orthanc_config.Plugins }}", **inventory) == ["/run/orthanc/plugins",
                                                                          "/usr/share/orthanc/plugins"]
    check = orthanc_role_value("{{ __orthanc_python_check }}", **inventory)
    assert check.count("%s") == 1
    assert check.startswith("docker run --rm --network none --entrypoint python3 ")
    assert " orthancteam/orthanc:26.8.1 -m py_compile /tmp/check.py" in check


def test_the_package_check_refuses_a_syntax_error_and_accepts_a_good_script(tmp_path):
    """The validate command as the copy module runs it: on a temporary file without .py."""
    check = orthanc_role_value("{{ __orthanc_python_check }}", orthanc_python_scripts=[PING])
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("def f(x):\n    return x\n")
    bad.write_text("def f(x)\n    return x\n")
    assert subprocess.run(check.replace("python3", sys.executable) % good, shell=True, check=False).returncode == 0
    run = subprocess.run(check.replace("python3", sys.executable) % bad, shell=True, check=False,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "SyntaxError" in run.stderr


# --- the entry script, run as the plugin runs it -------------------------------------------

def render_entry(scripts):
    template = (ROOT / "roles" / "orthanc" / "templates" / "python-entry.py.j2").read_text()
    modules = [item["name"][:-3] for item in scripts]
    return Templar(loader=DataLoader(), variables={"ansible_managed": "Ansible managed",
                                                   "__orthanc_python_modules": modules}).template(
        trust_as_template(template))


def run_like_the_plugin(folder):
    """Import the entry as Orthanc's Python plugin does: its folder first on sys.path,
    the module named by the file."""
    program = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
               f"importlib.import_module({PYTHON_ENTRY[:-3]!r})")
    return subprocess.run([sys.executable, "-c", program, str(folder)], capture_output=True, text=True,
                          check=False)


def test_the_entry_imports_every_script_in_order(tmp_path):
    scripts = [{"name": f"pp_step{n}.py", "content": f"import pp_trace\npp_trace.ORDER.append({n})\n"}
               for n in (2, 1, 3)]
    scripts.append({"name": "pp_report.py",
                    "content": "import pp_trace\nprint(pp_trace.ORDER)\n"})
    for item in scripts + [{"name": "pp_trace.py", "content": "ORDER = []\n"}]:
        (tmp_path / item["name"]).write_text(item["content"])
    entry = render_entry(scripts)
    assert entry.startswith("#")
    (tmp_path / PYTHON_ENTRY).write_text(entry)
    compile(entry, PYTHON_ENTRY, "exec")
    run = run_like_the_plugin(tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[2, 1, 3]"


def test_a_script_that_raises_makes_the_entry_raise(tmp_path):
    """Orthanc then stops (the plugin's initialisation fails): the role's restart rolls back."""
    scripts = [{"name": "pp_fails.py", "content": "raise RuntimeError('pp fault')\n"}]
    (tmp_path / "pp_fails.py").write_text(scripts[0]["content"])
    (tmp_path / PYTHON_ENTRY).write_text(render_entry(scripts))
    run = run_like_the_plugin(tmp_path)
    assert run.returncode != 0 and "RuntimeError: pp fault" in run.stderr


def test_the_entry_names_modules_as_json_strings(tmp_path):
    entry = render_entry([PING, HELPER])
    line = next(line for line in entry.splitlines() if line.startswith("for _module in "))
    assert json.loads(line[len("for _module in "):-1]) == ["pacs_ping", "pacs_answers"]


def test_the_readmes_example_is_what_molecule_default_deploys_and_calls():
    """README's "Python scripts" example is the scenario's, so tests/test_python.py runs it."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- python-scripts: group_vars/orthanc/main.yml -->\n```yaml\n", 1)[1].split("```", 1)[0]
    scenario = yaml.safe_load((ROOT / "molecule/default/group_vars/orthanc/main.yml").read_text())
    example = yaml.safe_load(block)
    assert example["orthanc_python_scripts"] == scenario["orthanc_python_scripts"]
    assert errors(example["orthanc_python_scripts"]) == []
    for item in example["orthanc_python_scripts"]:
        compile(item["content"], item["name"], "exec")
