"""Containers for the pacs_smoke tests: an Orthanc PACS and an Orthanc acting as modality,
XNAT receiver and DICOMweb server, on a private docker network. Names start with pps-."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = "local/orthanc:1.10.1"
PACS_USER = ("smoke", "smoke-secret")
REMOTE_USER = ("remote", "remote-secret")


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True).stdout.strip()


def container_ip(name, network):
    return docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network, name)


def wait_ready(ip, auth, deadline=60.0):
    """Poll until Orthanc answers HTTP with credentials and its DICOM port accepts."""
    end = time.monotonic() + deadline
    while True:
        try:
            if requests.get("http://%s:8042/system" % ip, auth=auth, timeout=1).status_code == 200:
                with socket.create_connection((ip, 4242), timeout=1):
                    return
        except (requests.RequestException, OSError):
            pass
        if time.monotonic() > end:
            raise RuntimeError("Orthanc at %s not ready after %ss" % (ip, deadline))
        time.sleep(0.1)


class Env:
    """Start with start(), stop with stop() (always, also on failure)."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.network = "pps-net-%s" % tag
        # A /24 of its own outside 172.28.0.0/16: Docker's automatic choice would take a whole
        # /16, which can be 172.28.0.0/16 and collide with every molecule scenario's network.
        self.subnet = "172.29.%d.0/24" % (int(tag, 16) % 250 + 1)
        self.pacs = "pps-pacs-%s" % tag
        self.modality = "pps-modality-%s" % tag
        self.pacs_ip = self.modality_ip = None

    def start(self):
        docker("network", "create", "--subnet", self.subnet, self.network)
        for name, conf, alias in ((self.modality, "orthanc-modality", "pps-modality"),
                                  (self.pacs, "orthanc-pacs", "pps-pacs")):
            docker("run", "-d", "--name", name, "--network", self.network, "--network-alias", alias,
                   "-v", "%s/%s:/etc/orthanc:ro" % (HERE, conf), IMAGE)
        self.pacs_ip = container_ip(self.pacs, self.network)
        self.modality_ip = container_ip(self.modality, self.network)
        wait_ready(self.modality_ip, REMOTE_USER)
        wait_ready(self.pacs_ip, PACS_USER)
        return self

    @property
    def pacs_url(self):
        return "http://%s:8042" % self.pacs_ip

    def stop(self):
        docker("rm", "-f", "-v", self.pacs, self.modality, check=False)
        docker("network", "rm", self.network, check=False)

    def studies(self, which="pacs"):
        ip, auth = (self.pacs_ip, PACS_USER) if which == "pacs" else (self.modality_ip, REMOTE_USER)
        return requests.get("http://%s:8042/studies" % ip, auth=auth, timeout=3).json()
