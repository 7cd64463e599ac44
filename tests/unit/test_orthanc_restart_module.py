"""The orthanc_restart module (roles/orthanc/library): its functions against real HTTP and
HTTPS servers on loopback and real commands, and the module as Ansible runs it (a
subprocess with an args file) restarting a real Orthanc 1.10.1 container
(local/orthanc:1.10.1, names start with pp-unit-restart-)."""

import functools
import grp
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
from module_run import load_module_file, run_module_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "roles", "orthanc", "library", "orthanc_restart.py")
UTILS = {"orthanc_files": os.path.join(ROOT, "roles", "orthanc", "module_utils", "orthanc_files.py")}
RESTART = load_module_file(MODULE, "orthanc_restart", UTILS)
IMAGE = "local/orthanc:1.10.1"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Status(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's status (Orthanc answers 401 without credentials)."""

    def do_GET(self):  # noqa: N802  (http.server's name)
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


def serve(status, port=0, tls_dir=None):
    server = http.server.HTTPServer(("127.0.0.1", port), Status)
    server.status = status
    if tls_dir:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def self_signed(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pacs1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    return str(tmp_path)


def test_restart_commands():
    assert RESTART.restart_commands("systemd", "orthanc") == [
        ["systemctl", "reset-failed", "orthanc"], ["systemctl", "restart", "orthanc"]]
    assert RESTART.restart_commands("systemd", "orthanc", enable=True) == [
        ["systemctl", "reset-failed", "orthanc"], ["systemctl", "enable", "orthanc"], ["systemctl", "restart", "orthanc"]]
    assert RESTART.restart_commands("docker", "pacs-orthanc") == [["docker", "restart", "pacs-orthanc"]]
    assert RESTART.restart_commands("docker", "pacs-orthanc", enable=True) == [["docker", "restart", "pacs-orthanc"]]
    with pytest.raises(ValueError, match="unknown manager 'podman'"):
        RESTART.restart_commands("podman", "orthanc")


def test_run_commands_ignores_only_a_failing_reset_failed(tmp_path):
    """`systemctl reset-failed` fails when there is nothing to reset: that is no failure. A failing
    enable is one, and the restart after it does not run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    fake = bin_dir / "systemctl"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n[ \"$1\" = restart ]\n" % log, encoding="utf-8")
    fake.chmod(0o755)
    commands = RESTART.restart_commands("systemd", "orthanc", enable=True)
    runner = functools.partial(subprocess.run, env={"PATH": "%s:/usr/bin:/bin" % bin_dir})
    message = RESTART.run_commands(commands, runner=runner)
    assert message == "`systemctl enable orthanc` failed (rc 1): no output"
    assert log.read_text(encoding="utf-8") == "reset-failed orthanc\nenable orthanc\n"
    assert RESTART.run_commands([["systemctl", "reset-failed", "x"], ["true"]],
                                runner=runner) is None
    assert RESTART.run_commands([["true"]]) is None


def test_run_commands_names_the_failing_restart():
    message = RESTART.run_commands([["true"], ["sh", "-c", "echo 'Unit orthanc.service not found.' >&2; exit 5"]])
    assert message == "`sh -c echo 'Unit orthanc.service not found.' >&2; exit 5` failed (rc 5): " \
                      "Unit orthanc.service not found."
    assert RESTART.run_commands([["false"]]) == "`false` failed (rc 1): no output"


def test_run_commands_runs_in_order(tmp_path):
    log = tmp_path / "log"
    RESTART.run_commands([["sh", "-c", "echo one >> %s" % log], ["sh", "-c", "echo two >> %s" % log]])
    assert log.read_text(encoding="utf-8") == "one\ntwo\n"


@pytest.mark.parametrize("status", [200, 401, 403, 503])
def test_any_http_status_is_an_answer(status):
    server = serve(status)
    try:
        assert RESTART.answers("http://127.0.0.1:%d/system" % server.server_port) is True
    finally:
        server.shutdown()


def test_https_with_a_certificate_nobody_trusts_is_an_answer(self_signed):
    server = serve(401, tls_dir=self_signed)
    try:
        assert RESTART.answers("https://127.0.0.1:%d/system" % server.server_port) is True
    finally:
        server.shutdown()


def test_nothing_listening_is_no_answer():
    assert RESTART.answers("http://127.0.0.1:%d/system" % free_port()) is False


def test_a_plain_http_server_asked_over_https_is_no_answer():
    server = serve(200)
    try:
        assert RESTART.answers("https://127.0.0.1:%d/system" % server.server_port) is False
    finally:
        server.shutdown()


def test_wait_for_answer_waits_for_a_server_that_comes_up_late():
    port = free_port()
    late = []
    timer = threading.Timer(1.2, lambda: late.append(serve(401, port=port)))
    timer.start()
    try:
        waited = RESTART.wait_for_answer("http://127.0.0.1:%d/system" % port, 10)
        assert waited is not None and 1.0 <= waited < 5
    finally:
        timer.join()
        for server in late:
            server.shutdown()


def test_wait_for_answer_gives_up_at_the_deadline():
    start = time.monotonic()
    assert RESTART.wait_for_answer("http://127.0.0.1:%d/system" % free_port(), 1.5) is None
    assert 1.4 <= time.monotonic() - start < 4


def test_wait_message_as_users_know_it():
    assert RESTART.wait_message("http://127.0.0.1:8042/system", 60.0) == \
        "Orthanc did not answer http://127.0.0.1:8042/system within 60.0 s after the restart"


def run(tmp_path, check=False, **args):
    return run_module_file(MODULE, args, tmp_path, check=check, timeout=120, module_utils=UTILS)


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def orthanc():
    """A real Orthanc 1.10.1 container; yields its name and /system URL."""
    name = "pp-unit-restart-%s" % uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, IMAGE)
    try:
        address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        yield name, "http://%s:8042/system" % address
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def started_at(name):
    return docker("inspect", "-f", "{{.State.StartedAt}}", name)


def test_module_restarts_the_container_and_waits_for_orthanc(orthanc, tmp_path):
    name, url = orthanc
    assert RESTART.wait_for_answer(url, 60) is not None
    before = started_at(name)
    result = run(tmp_path, manager="docker", name=name, url=url, timeout=60)
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["commands"] == [["docker", "restart", name]]
    assert started_at(name) != before
    assert RESTART.answers(url)  # it returned only once Orthanc answered again


def test_module_in_check_mode_restarts_nothing(orthanc, tmp_path):
    name, url = orthanc
    before = started_at(name)
    result = run(tmp_path, check=True, manager="docker", name=name, url=url, timeout=60)
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["commands"] == [["docker", "restart", name]]
    assert started_at(name) == before


def test_module_fails_when_orthanc_does_not_answer(orthanc, tmp_path):
    name, _url = orthanc
    url = "http://127.0.0.1:%d/system" % free_port()  # nothing answers there
    result = run(tmp_path, manager="docker", name=name, url=url, timeout=2)
    assert result["failed"] is True
    assert result["msg"] == "Orthanc did not answer %s within 2.0 s after the restart" % url


def test_module_fails_naming_a_restart_that_failed(tmp_path):
    name = "pp-unit-restart-none-%s" % uuid.uuid4().hex[:6]
    result = run(tmp_path, manager="docker", name=name, url="http://127.0.0.1:1/system", timeout=2)
    assert result["failed"] is True
    assert result["msg"].startswith("`docker restart %s` failed (rc 1): " % name), result["msg"]
    assert "No such container" in result["msg"]


def test_ask_aet_without_an_answer_and_with_a_refusal():
    assert RESTART.ask_aet("http://127.0.0.1:%d/system" % free_port()) == (None, None)
    server = serve(401)
    try:
        assert RESTART.ask_aet("http://127.0.0.1:%d/system" % server.server_port, "admin", "x") == (401, None)
    finally:
        server.shutdown()


def test_wait_message_with_an_ae_title():
    assert RESTART.wait_message("http://127.0.0.1:8042/system", 60.0, "PACS1", (401, None)) == (
        "Orthanc did not answer http://127.0.0.1:8042/system with AE title PACS1 within 60.0 s after the restart"
        " (last answer: HTTP 401, AE none)")
    assert RESTART.wait_message("http://127.0.0.1:8042/system", 2, "PACS1", None).endswith(
        "(last answer: none, AE none)")


@pytest.fixture
def orthanc_with_users(tmp_path):
    """A real Orthanc 1.10.1 container with an AE title, remote access and a user; yields its name and /system URL."""
    config = tmp_path / "etc"
    config.mkdir()
    (config / "orthanc.json").write_text(json.dumps({
        "DicomAet": "UNIT_PACS", "RemoteAccessAllowed": True, "AuthenticationEnabled": True,
        "RegisteredUsers": {"admin": "s3cret-unit"}, "StorageDirectory": "/tmp/orthanc-db"}), encoding="utf-8")
    name = "pp-unit-restart-%s" % uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, "-v", "%s:/etc/orthanc:ro" % config, IMAGE)
    try:
        address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        yield name, "http://%s:8042/system" % address
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def test_module_waits_for_orthancs_ae_title_with_credentials(orthanc_with_users, tmp_path):
    """Orthanc's own /system: the right AE title and user pass; a wrong AE title or password fails,
    naming what Orthanc last answered."""
    name, url = orthanc_with_users
    assert RESTART.wait_for_answer(url, 60) is not None
    assert RESTART.ask_aet(url, "admin", "s3cret-unit") == (200, "UNIT_PACS")
    aet = "UNIT_PACS"
    good = run(tmp_path, manager="docker", name=name, url=url, timeout=60, aet=aet,
               url_username="admin", url_password="s3cret-unit")
    assert good.get("failed") is not True, good
    wrong = run(tmp_path, manager="docker", name=name, url=url, timeout=3, aet="NOT_" + aet,
                url_username="admin", url_password="s3cret-unit")
    assert wrong["failed"] is True
    assert wrong["msg"].endswith("(last answer: HTTP 200, AE %s)" % aet), wrong["msg"]
    refused = run(tmp_path, manager="docker", name=name, url=url, timeout=3, aet=aet,
                  url_username="admin", url_password="wrong-password")
    assert refused["failed"] is True and refused["msg"].endswith("(last answer: HTTP 401, AE none)"), refused["msg"]
    assert "wrong-password" not in json.dumps(refused)


def test_keep_good_replaces_the_copy_with_the_readable_mode_and_leaves_no_temporary_file(tmp_path):
    src, dest = tmp_path / "orthanc.json", tmp_path / "orthanc.json.last-good"
    src.write_text('{"DicomAet": "NEW"}', encoding="utf-8")
    dest.write_text('{"DicomAet": "OLD"}', encoding="utf-8")
    os.chmod(dest, 0o600)
    RESTART.keep_good(str(src), str(dest), os.getgid())
    assert dest.read_text(encoding="utf-8") == '{"DicomAet": "NEW"}'
    assert oct(os.stat(dest).st_mode & 0o777) == "0o640" and os.stat(dest).st_gid == os.getgid()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orthanc.json", "orthanc.json.last-good"]


def test_keep_good_of_a_missing_source_leaves_the_old_copy(tmp_path):
    dest = tmp_path / "orthanc.json.last-good"
    dest.write_text("old", encoding="utf-8")
    with pytest.raises(OSError):
        RESTART.keep_good(str(tmp_path / "missing.json"), str(dest), os.getgid())
    assert dest.read_text(encoding="utf-8") == "old" and len(list(tmp_path.iterdir())) == 1


def test_module_keeps_the_good_configuration_only_once_orthanc_answered(orthanc_with_users, tmp_path):
    """With keep_good, the configuration is copied after Orthanc answered with its AE title, and
    not at all when it never does (a failed restart must roll back to the copy from before)."""
    name, url = orthanc_with_users
    assert RESTART.wait_for_answer(url, 60) is not None
    src, dest = tmp_path / "orthanc.json", tmp_path / "orthanc.json.last-good"
    src.write_text('{"DicomAet": "UNIT_PACS"}', encoding="utf-8")
    keep = {"src": str(src), "dest": str(dest), "group": grp.getgrgid(os.getgid()).gr_name}
    user = {"url_username": "admin", "url_password": "s3cret-unit"}
    stuck = run(tmp_path, manager="docker", name=name, url=url, timeout=3, aet="NOT_UNIT_PACS", keep_good=keep, **user)
    assert stuck["failed"] is True and not dest.exists() and "kept" not in stuck
    good = run(tmp_path, manager="docker", name=name, url=url, timeout=60, aet="UNIT_PACS", keep_good=keep, **user)
    assert good.get("failed") is not True, good
    assert good["kept"] == str(dest) and dest.read_text(encoding="utf-8") == '{"DicomAet": "UNIT_PACS"}'
    assert oct(os.stat(dest).st_mode & 0o777) == "0o640"
