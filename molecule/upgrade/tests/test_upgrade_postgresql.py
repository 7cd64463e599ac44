"""Upgrades keep every study on a PostgreSQL site (issue 14): plugin 4.0 to 5.0.

converge.yml provisioned PostgreSQL 15 on pp-upgrade-pg-old, ran Debian 12's Orthanc 1.10.1
with its PostgreSQL plugin 4.0 there (index in the database, files in the shared folder
/tmp/pp-upgrade/pg-storage), stored 2 patients, 3 studies, 5 series, 10 instances, recorded
them (before-pg.json) and stopped that Orthanc. The tests run in file order on pp-upgrade-pg-new,
Debian 13 (Orthanc 1.12.7, plugin 5.0), on the same database and folder:
  1. the first run named Orthanc 1.10.1 in the database's comment;
  2. playbooks/orthanc.yml refuses to open that index with 1.12.7;
  3. an upgrade whose new Orthanc cannot start (its HTTP port taken) is rolled back: the
     plugin 5.0 had already added its labels' table, the dump puts the 4.0 tables back;
  4. playbooks/upgrade.yml for real: same patients, studies, series, instances and files.
"""

import json

import pytest
from test_upgrade import EPHEMERAL, PASSWORD, USER, dicom_studies, docker, playbook, wait_for

OLD, NEW = "pp-upgrade-pg-old", "pp-upgrade-pg-new"
NEW_URL = "http://172.28.100.13:8042"
STORAGE = "/tmp/pp-upgrade/pg-storage"


def sql(query):
    """One value from Orthanc's database, read as PostgreSQL's superuser on its host."""
    return docker("exec", OLD, "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", "orthanc", "-c", query)


def marker():
    """The marker in the database's comment (None when there is none)."""
    comment = sql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'orthanc'")
    return json.loads(comment)["pacs-provisioner-orthanc"] if comment else None


def before():
    """What the PostgreSQL site's Orthanc 1.10.1 held (converge.yml wrote it)."""
    return json.loads((EPHEMERAL / "before-pg.json").read_text())


@pytest.fixture(scope="module", autouse=True)
def squatter_cleanup():
    """The port squatter of test 3 goes whatever happens."""
    yield
    docker("exec", NEW, "systemctl", "stop", "pp-squatter", check=False)


def test_first_run_named_its_orthanc_in_the_database():
    assert before()["counts"] == {"CountPatients": 2, "CountStudies": 3, "CountSeries": 5, "CountInstances": 10}
    assert marker() == {"method": "package", "version": "1.10.1", "image": ""}
    # The plugin 4.0 knows no labels.
    assert sql("SELECT to_regclass('labels') IS NULL") == "t"


def test_another_orthanc_is_refused_on_the_database():
    rc, out = playbook("orthanc.yml", NEW)
    assert rc != 0 and "Run playbooks/upgrade.yml" in out, out[-3000:]
    assert '"version": "1.10.1"' in out
    assert docker("exec", NEW, "dpkg-query", "-W", "orthanc", check=False) == ""


def test_failed_upgrade_restores_the_dump():
    # Something else holds Orthanc's HTTP port (a transient unit: stopped for sure afterwards).
    docker("exec", NEW, "systemd-run", "--unit", "pp-squatter", "python3", "-m", "http.server", "8042")
    try:
        rc, out = playbook("upgrade.yml", NEW)
    finally:
        docker("exec", NEW, "systemctl", "stop", "pp-squatter", check=False)
    assert rc != 0, out[-4000:]
    assert "the index was restored from /var/lib/orthanc/orthanc-pgdump-package-1.10.1-" in out, out[-4000:]
    # Orthanc 1.12.7 had opened the database (its plugin 5.0 adds the labels' table) before
    # its HTTP server failed: the restore took the database back to what 4.0 left.
    assert sql("SELECT to_regclass('labels') IS NULL") == "t"
    assert sql("SELECT count(*) FROM resources") == "20"
    assert marker() == {"method": "package", "version": "1.10.1", "image": ""}
    assert docker("exec", NEW, "systemctl", "is-active", "orthanc", check=False) != "active"


def test_upgrade_keeps_every_study_and_file():
    rc, out = playbook("upgrade.yml", NEW)
    assert rc == 0, out[-4000:]
    assert "as before the switch" in out
    assert wait_for(NEW_URL)["Version"] == "1.12.7"
    assert dicom_studies.snapshot(NEW_URL, USER, PASSWORD, STORAGE) == before()
    assert sql("SELECT to_regclass('labels') IS NOT NULL") == "t"
    assert marker() == {"method": "package", "version": "1.12.7", "image": ""}
    dumps = docker("exec", NEW, "sh", "-c", "ls /var/lib/orthanc/orthanc-pgdump-*/orthanc.pgdump").split()
    assert len(dumps) == 2, dumps
    # The next run on the upgraded site changes nothing and is not refused.
    rc, out = playbook("orthanc.yml", NEW)
    assert rc == 0, out[-3000:]
