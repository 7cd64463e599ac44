"""Unit tests of the stand-in's aliveness probe (images/orthancteam/test-aliveness.py),
from the real probe's behaviour (orthanc-builder docker/orthanc/test-aliveness.py): port,
user and TLS come from /tmp/orthanc.json, command-line options win, and the password is
taken from that file as written there (so an encoded $ is not decoded)."""

import argparse
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("pp_orthancteam_probe", ROOT / "images/orthancteam/test-aliveness.py")
PROBE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(PROBE)


def args(**given):
    names = ("http_port", "http_scheme", "user", "pwd", "certfile", "keyfile", "keypwd")
    return argparse.Namespace(**{name: given.get(name) for name in names})


def test_defaults_without_a_configuration():
    assert PROBE.settings({}, args()) == ("http", 8042, None, None)


def test_first_registered_user_port_and_tls_from_the_configuration():
    config = {"HttpPort": 18042, "AuthenticationEnabled": True, "SslEnabled": True,
              "RegisteredUsers": {"admin": "a", "monitor": "m"}}
    assert PROBE.settings(config, args()) == ("https", 18042, "admin", "a")


def test_user_option_picks_that_users_password_from_the_file():
    config = {"AuthenticationEnabled": True,
              "RegisteredUsers": {"admin": "x${PACS_PROVISIONER_DOLLAR}y", "monitor": "m"}}
    assert PROBE.settings(config, args(user="monitor")) == ("http", 8042, "monitor", "m")
    # the encoded form, not what Orthanc decodes it to: why the role names a user without $
    assert PROBE.settings(config, args())[3] == "x${PACS_PROVISIONER_DOLLAR}y"


def test_no_credentials_when_authentication_is_off_and_options_win():
    config = {"AuthenticationEnabled": False, "RegisteredUsers": {"admin": "a"}, "HttpPort": 1}
    assert PROBE.settings(config, args()) == ("http", 1, None, None)
    assert PROBE.settings(config, args(http_port=2, user="u", pwd="p", certfile="c")) == ("https", 2, "u", "p")
