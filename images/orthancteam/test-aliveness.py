#!/usr/bin/env python3
"""Aliveness probe of pacs-provisioner's stand-in for orthancteam/orthanc.

Behaves like the real image's /probes/test-aliveness.py (orthanc-builder
docker/orthanc/test-aliveness.py): port, first registered user and TLS are read from
/tmp/orthanc.json (the generator's output), command-line options override them, and
GET /changes?last (which reads the database, unlike /system) must answer 200. Exit 0
when it does, 1 otherwise.
"""
import argparse
import base64
import json
import ssl
import sys
import traceback
import urllib.request


def settings(config, args):
    """(scheme, port, user, password) from the generated configuration and the options."""
    scheme, port, user, password = "http", config.get("HttpPort", 8042), None, None
    if config.get("AuthenticationEnabled") and config.get("RegisteredUsers"):
        if args.user:
            password = config["RegisteredUsers"].get(args.user, "")
        else:
            user, password = next(iter(config["RegisteredUsers"].items()))
    if config.get("SslEnabled"):
        scheme = "https"
    return (args.http_scheme or ("https" if args.certfile else scheme), args.http_port or port,
            args.user or user, args.pwd or password)


def main():
    """Probe Orthanc once."""
    parser = argparse.ArgumentParser()
    for name, kind in (("http_port", int), ("http_scheme", str), ("user", str), ("pwd", str),
                       ("certfile", str), ("keyfile", str), ("keypwd", str)):
        parser.add_argument("--" + name, type=kind)
    args = parser.parse_args()
    try:
        with open("/tmp/orthanc.json", "rb") as handle:
            config = json.load(handle)
    except Exception:  # pylint: disable=broad-except  # as the real probe: no file, defaults
        config = {}
    scheme, port, user, password = settings(config, args)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if args.certfile:
            context.load_cert_chain(certfile=args.certfile, keyfile=args.keyfile, password=args.keypwd)
        request = urllib.request.Request(f"{scheme}://localhost:{port}/changes?last")
        if user and password:
            token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
            request.add_header("Authorization", "Basic " + token)
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            if answer.status == 200:
                sys.exit(0)
    except Exception:  # pylint: disable=broad-except
        print(traceback.format_exc())
    sys.exit(1)


if __name__ == "__main__":
    main()
