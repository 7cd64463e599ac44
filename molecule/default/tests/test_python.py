"""Python scripts run by Orthanc's Python plugin (orthanc-python from Debian).

The scenario's orthanc_python_scripts register a custom REST route; these tests call it
with the scenario's credentials and check what the role installed. test_python_faults.py
then runs the orthanc play with broken scripts.
"""

import json
import os

ROUTE = "/pacs-provisioner/ping"


def ask_route(host, hostvars):
    """GET the scripts' route as the scenario's admin; (HTTP status, body)."""
    admin = next(u for u in hostvars["orthanc_users"] if u["name"] == "admin")
    # testinfra shell-quotes each argument.
    result = host.run("curl -s -w '\\n%%{http_code}' -u %s http://127.0.0.1:%s%s",
                      "admin:" + admin["password"], str(hostvars["orthanc_http_port"]), ROUTE)
    body, _, status = result.stdout.rpartition("\n")
    return status, body


def test_a_script_answers_its_rest_route_with_the_hosts_python(host, hostvars):
    status, body = ask_route(host, hostvars)
    assert status == "200", body
    answer = json.loads(body)
    # The plugin runs the host's own python3: what the role compiles the scripts with.
    python3 = host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert answer == {"pong": True, "python": python3}


def test_the_route_needs_the_credentials(host, hostvars):
    answer = host.run("curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%s%s",
                      str(hostvars["orthanc_http_port"]), ROUTE)
    assert answer.stdout == "401"


def test_the_plugin_is_debians_and_links_the_python_that_compiled_the_scripts(host, config):
    assert host.package("orthanc-python").is_installed
    assert "/usr/share/orthanc/plugins/libOrthancPython.so" in config["Plugins"]
    version = host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert f"libpython{version}.so" in host.check_output("ldd /usr/share/orthanc/plugins/libOrthancPython.so")
    # Debian's python.json names a sample PythonScript: a second PythonScript is fatal,
    # so it is kept as an empty object.
    assert json.loads(host.file("/etc/orthanc/python.json").content_string) == {}


def test_scripts_are_readable_by_orthanc_only_and_named_by_python_script(host, hostvars, config):
    entry = host.file(config["PythonScript"])
    folder = host.file(os.path.dirname(config["PythonScript"]))
    assert os.path.dirname(folder.path) == "/etc/orthanc/python"
    assert entry.path.endswith("/pacs_provisioner_main.py")
    assert (folder.user, folder.group, folder.mode) == ("root", "orthanc", 0o750)
    names = [item["name"] for item in hostvars["orthanc_python_scripts"]]
    for name in names + ["pacs_provisioner_main.py"]:
        script = host.file(f"{folder.path}/{name}")
        assert (script.user, script.group, script.mode) == ("root", "orthanc", 0o640), name
    for item in hostvars["orthanc_python_scripts"]:
        assert host.file(f"{folder.path}/{item['name']}").content_string == item["content"]
    # Only this set: nothing else in the folder of the scripts.
    assert host.check_output("ls -1 /etc/orthanc/python") == os.path.basename(folder.path)
