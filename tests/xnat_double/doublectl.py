"""Start and stop the XNAT double for tests (a subprocess on loopback, or a container)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "xnat_double.py")
ADMIN = ("admin", "s3cret:with:colons")
USER = ("bob", "bobpw")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Double:
    """The double as a subprocess: .url, .admin, .user, .storage, .builtin_port."""

    def __init__(self, builtin_port=None):
        self.storage = tempfile.mkdtemp(prefix="ppx-double-")
        self.builtin_port = builtin_port if builtin_port is not None else free_port()
        cmd = [sys.executable, DOUBLE, "--port", "0", "--storage-dir", self.storage,
               "--builtin-receiver-port", str(self.builtin_port),
               "--users", "admin:%s:%s" % ADMIN, "--users", "user:%s:%s" % USER]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY port="):
            self.stop()
            raise RuntimeError("the XNAT double did not start: %r" % line)
        self.port = int(line.split("=")[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self.admin, self.user = ADMIN, USER

    def test_call(self, method, path, body=None):
        """Call a /test/ endpoint (no auth)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def reset(self):
        self.test_call("POST", "/test/reset")

    def writes(self):
        """Requests to XNAT that would change something."""
        return [r for r in self.test_call("GET", "/test/requests")
                if r["method"] in ("POST", "PUT", "DELETE") and r["path"] != "/data/JSESSION"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.storage, ignore_errors=True)


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=120)


def published(container, port):
    out = docker("port", container, "%d/tcp" % port).stdout.strip().splitlines()[0]
    return int(out.rsplit(":", 1)[1])


def wait_http(url, timeout=30, auth=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url)
            if auth:
                import base64
                req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
            with urllib.request.urlopen(req, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError("%s did not answer within %ss: %s" % (url, timeout, last))


def site_packages():
    import pydicom
    import pynetdicom
    return os.path.dirname(os.path.dirname(pydicom.__file__)), pynetdicom, pydicom


def pylib_mounts(pylib):
    """-v options for pydicom and pynetdicom with their dist-info (pydicom reads its metadata)."""
    mounts = []
    for name in sorted(os.listdir(pylib)):
        if name.split("-")[0] in ("pydicom", "pynetdicom"):
            mounts += ["-v", "%s/%s:/pylib/%s:ro" % (pylib, name, name)]
    return mounts


class DicomLab:
    """A ppx- docker network with a real Orthanc and the double in a container.

    The double runs in a container so that Orthanc resolves the C-MOVE destination by
    container name on the private network: no dependence on the host's docker gateway
    address or host firewall. pydicom/pynetdicom are mounted read-only from this venv.
    """

    RECEIVER_AE = "PPX_XNAT"
    RECEIVER_PORT = 8104
    PACS_AE = "PPX_PACS"

    def __init__(self):
        tag = uuid.uuid4().hex[:8]
        self.network = "ppx-net-%s" % tag
        self.orthanc = "ppx-orthanc-%s" % tag
        self.xnat = "ppx-xnat-%s" % tag
        self.confdir = tempfile.mkdtemp(prefix="ppx-orthanc-")
        self.started = []
        try:
            self._start()
        except Exception:
            self.stop()
            raise

    def _start(self):
        config = {
            "Name": "ppx", "DicomAet": self.PACS_AE, "DicomPort": 4242, "HttpPort": 8042,
            "StorageDirectory": "/var/lib/orthanc/db", "IndexDirectory": "/var/lib/orthanc/db",
            "RemoteAccessAllowed": True, "AuthenticationEnabled": True,
            "RegisteredUsers": {"orthanc": "orthanc"},
            "DicomModalities": {"XNAT_DQR": {
                "AET": self.RECEIVER_AE, "Host": self.xnat, "Port": self.RECEIVER_PORT,
                "AllowEcho": True, "AllowFind": True, "AllowMove": True, "AllowStore": True}},
        }
        with open(os.path.join(self.confdir, "orthanc.json"), "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        os.chmod(self.confdir, 0o755)
        os.chmod(os.path.join(self.confdir, "orthanc.json"), 0o644)
        docker("network", "create", self.network)
        self.started.append(("network", self.network))
        docker("run", "-d", "--name", self.orthanc, "--network", self.network,
               "-v", "%s:/etc/orthanc:ro" % self.confdir,
               "-p", "127.0.0.1::8042", "-p", "127.0.0.1::4242", "local/orthanc:1.10.1")
        self.started.append(("container", self.orthanc))
        pylib = site_packages()[0]
        docker("run", "-d", "--name", self.xnat, "--network", self.network,
               "-v", "%s:/double:ro" % HERE,
               *pylib_mounts(pylib),
               "-e", "PYTHONPATH=/pylib", "-p", "127.0.0.1::8080",
               "local/debian12-systemd:latest", "python3", "/double/xnat_double.py",
               "--bind", "0.0.0.0", "--port", "8080", "--receiver-bind", "0.0.0.0",
               "--storage-dir", "/tmp/received", "--builtin-receiver-port", "0",
               "--users", "admin:%s:%s" % ADMIN)
        self.started.append(("container", self.xnat))
        self.orthanc_url = "http://127.0.0.1:%d" % published(self.orthanc, 8042)
        self.url = "http://127.0.0.1:%d" % published(self.xnat, 8080)
        wait_http(self.url + "/test/requests")
        wait_http(self.orthanc_url + "/system", auth=("orthanc", "orthanc"))

    def stop(self):
        for kind, name in reversed(self.started):
            if kind == "container":
                docker("rm", "-f", "-v", name, check=False)
            else:
                docker("network", "rm", name, check=False)
        shutil.rmtree(self.confdir, ignore_errors=True)
