"""Python scripts on the container method: the image's own Python plugin, enabled by the
PythonScript the role renders at the root of the mounted orthanc.json (plugins-def.json,
"enablingRootSetting"), next to the image's default plugins.
"""

import json
import os
import pathlib

import docker
import pytest
import requests
from test_container import AUTH, BASE, CONFIG, VARS, run_role

ROUTE = f"{BASE}/pacs-provisioner/ping"


@pytest.fixture(scope="module")
def container():
    return docker.from_env().containers.get(VARS["orthanc_container_name"])


def generated_config(container):
    """What the image's generator wrote and Orthanc runs on."""
    return json.loads(container.exec_run(["cat", "/tmp/orthanc.json"]).output)


def test_a_script_answers_its_rest_route_with_the_images_python(container):
    answer = requests.get(ROUTE, auth=AUTH, timeout=5)
    assert answer.status_code == 200, answer.text
    python3 = container.exec_run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    assert answer.json() == {"pong": True, "python": python3.output.decode().strip()}
    assert requests.get(ROUTE, timeout=5).status_code == 401


def test_python_script_enables_the_images_plugin_and_its_defaults_stay_on(container):
    plugins = requests.get(f"{BASE}/plugins", auth=AUTH, timeout=5).json()
    assert {"python", "dicom-web", "gdcm", "orthanc-explorer-2"} <= set(plugins)
    generated = generated_config(container)
    assert generated["PythonScript"].startswith("/etc/orthanc/python/")
    assert generated["PythonScript"].endswith("/pacs_provisioner_main.py")
    assert generated["Plugins"] == ["/run/orthanc/plugins", "/usr/share/orthanc/plugins"]


def test_scripts_are_readable_by_the_containers_group_only(container):
    """The container runs as 999:999 and the folder is mounted read-only at /etc/orthanc."""
    entry = generated_config(container)["PythonScript"]
    folder = pathlib.Path(VARS["orthanc_config_dir"]) / os.path.relpath(os.path.dirname(entry), "/etc/orthanc")
    gid = int(VARS["orthanc_container_user"].split(":")[1])
    for path, mode in [(folder.parent, 0o750), (folder, 0o750)] + [
            (folder / name, 0o640) for name in ("pacs_provisioner_main.py", "pacs_ping.py")]:
        stat = path.stat()
        assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (0, gid, mode), path
    assert (folder / "pacs_ping.py").read_text() == VARS["orthanc_python_scripts"][0]["content"]


def test_a_syntax_error_is_refused_by_the_images_python_before_anything_changes(container):
    before, started = CONFIG.read_bytes(), container.attrs["State"]["StartedAt"]
    broken = [dict(VARS["orthanc_python_scripts"][0])]
    broken[0]["content"] = broken[0]["content"].replace("def on_ping(output, uri, **request):",
                                                        "def on_ping(output, uri, **request)")
    run = run_role("-e", json.dumps({"orthanc_python_scripts": broken}))
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "(item=pacs_ping.py)" in output and "failed to validate" in output, output
    assert "SyntaxError" in output and "/tmp/check.py" in output, output
    assert CONFIG.read_bytes() == before
    container.reload()
    assert container.attrs["State"]["StartedAt"] == started
    assert requests.get(ROUTE, auth=AUTH, timeout=5).status_code == 200
