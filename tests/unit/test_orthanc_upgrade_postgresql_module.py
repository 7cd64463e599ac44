"""The PostgreSQL side of the upgrade guard: roles/orthanc/library/orthanc_upgrade_postgresql.py and
roles/orthanc/module_utils/orthanc_upgrade_marker.py. The module's work against a real PostgreSQL
(plugin 4.0 to 5.0, dump and restore) is proven in molecule/upgrade (test_upgrade_postgresql.py)."""

import datetime
import importlib.util
import json
import os
import sys

from hypothesis import given
from hypothesis import strategies as st

from module_run import run_module_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARY = os.path.join(ROOT, "roles/orthanc/library/orthanc_upgrade_postgresql.py")
UTILS = os.path.join(ROOT, "roles/orthanc/module_utils/orthanc_upgrade_marker.py")


def load(name, path):
    """Import a file under a module name (as Ansible's payload makes module_utils importable)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MARKER = load("ansible.module_utils.orthanc_upgrade_marker", UTILS)
PG = load("orthanc_upgrade_postgresql", LIBRARY)
CONNECTION = {"host": "127.0.0.1", "port": 1, "database": "orthanc", "username": "orthanc",
              "password": "s3cret'$x\"pw"}


def test_plugin_levels_are_named_as_statistics_names_them():
    # The plugin stores OrthancPluginResourceType: 0 patient ... 3 instance.
    assert PG.levels_to_counts({"0": 2, "1": 3, "2": 5, "3": 10}) == {
        "CountPatients": 2, "CountStudies": 3, "CountSeries": 5, "CountInstances": 10}
    assert PG.levels_to_counts(None) == dict.fromkeys(MARKER.COUNT_NAMES, 0)


def test_schema_number():
    assert PG.schema_number("6") == 6 and PG.schema_number(" 6 ") == 6
    assert PG.schema_number(None) is None and PG.schema_number("six") is None


def test_backup_name_is_dated_and_file_safe():
    when = datetime.datetime(2026, 12, 1, 8, 5, 3, tzinfo=datetime.timezone.utc)
    assert PG.backup_name("package-1.10.1", when) == "orthanc-pgdump-package-1.10.1-20261201T080503Z"
    assert PG.backup_name("a/b c", when) == "orthanc-pgdump-a_b_c-20261201T080503Z"


def test_password_only_in_the_environment():
    env = PG.connection_env(CONNECTION)
    assert env["PGPASSWORD"] == CONNECTION["password"] and env["PGPORT"] == "1"
    argv = PG.psql_argv({"pp_db": "orthanc", "pp_comment": "{}"})
    assert CONNECTION["password"] not in " ".join(argv)
    assert argv[:2] == ["psql", "-X"] and argv[-2:] == ["-f", "-"] and "ON_ERROR_STOP=1" in argv


@given(st.dictionaries(st.sampled_from(["method", "version", "image"]), st.text(max_size=20)))
def test_marker_round_trips_through_the_comment(marker):
    assert MARKER.marker_from_comment(MARKER.marker_comment(marker)) == marker


def test_a_sites_own_comment_is_no_marker():
    for comment in (None, "", "PACS database", "[1, 2]", json.dumps({"other": {}}), json.dumps({MARKER.MARKER_KEY: 3})):
        assert MARKER.marker_from_comment(comment) is None


def test_ran_here_compares_the_candidate_when_nothing_is_installed():
    old = {"method": "package", "version": "1.10.1", "image": ""}
    # A new node of the site, or the same Orthanc: not an upgrade.
    assert MARKER.ran_here(old, "package", "", "", "", package_candidate="1.10.1+dfsg-2")
    assert MARKER.ran_here(old, "package", "1.10.1+dfsg-2", "", "")
    # Debian 13's candidate on Debian 12's index: an upgrade.
    assert not MARKER.ran_here(old, "package", "", "", "", package_candidate="1.12.7+dfsg-1")
    assert not MARKER.ran_here(old, "package", "1:1.12.7+dfsg-1", "", "", package_candidate="1.10.1")
    assert not MARKER.ran_here(old, "container", "", "", "orthancteam/orthanc:26.8.1")
    # No marker: only an Orthanc installed here already ran on it.
    assert not MARKER.ran_here(None, "package", "", "", "", package_candidate="1.10.1")
    assert MARKER.ran_here(None, "package", "1.10.1", "", "")


def test_module_without_psql_reads_nothing_and_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = run_module_file(LIBRARY, {"connection": CONNECTION}, tmp_path=tmp_path,
                          module_utils={"orthanc_upgrade_marker": UTILS})
    assert not out.get("failed") and not out["changed"]
    assert out["exists"] is None and out["upgrade_needed"] is False
    assert "postgresql-client" in out["error"]
    assert CONNECTION["password"] not in json.dumps(out)


def test_module_refuses_a_backup_it_cannot_read(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = run_module_file(LIBRARY, {"connection": CONNECTION, "action": "backup", "backup_root": str(tmp_path)},
                          tmp_path=tmp_path, module_utils={"orthanc_upgrade_marker": UTILS})
    assert out["failed"] and "no readable Orthanc index in database orthanc on 127.0.0.1" in out["msg"]
    assert list(tmp_path.iterdir()) == [tmp_path / "args.json"]


def test_restore_leaves_out_only_what_an_older_server_refuses():
    old, new = PG.restore_filter(150014), PG.restore_filter(170005)
    line = b"SET transaction_timeout = 0;\n"
    assert not old(line) and new(line)
    for other in (b"SET statement_timeout = 0;\n", b"COPY public.resources (internalid) FROM stdin;\n",
                  b"SET transaction_timeout = 0; -- no\n", b"1\tSET transaction_timeout = 0;\n"):
        assert old(other) and new(other)


def test_restore_sql_empties_only_what_the_user_owns_in_its_schema():
    sql = PG.DROP_OWNED_SQL
    assert "pg_get_userbyid(c.relowner) = current_user" in sql and "current_schema()" in sql
    # Names are read into an array before the first drop (a drop takes sequences along).
    assert sql.index("INTO statements") < sql.index("EXECUTE statement")
