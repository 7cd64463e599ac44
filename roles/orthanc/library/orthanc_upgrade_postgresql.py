#!/usr/bin/python
"""Read, back up, restore and mark Orthanc's PostgreSQL index around an upgrade."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.orthanc_upgrade_marker import (COUNT_NAMES, RUN_ARGUMENT_SPEC, marker_comment,
                                                         marker_from_comment, upgrade_needed)

DOCUMENTATION = r"""
module: orthanc_upgrade_postgresql
short_description: Read, back up, restore and mark Orthanc's PostgreSQL index around an upgrade
description:
  - >-
    With C(orthanc_database: postgresql) Orthanc's index is in a PostgreSQL database: its table
    C(GlobalProperties) holds the schema version under property 1, its table C(Resources) one row per
    patient, study, series and instance, C(resourceType) 0 to 3 (C(OrthancPluginResourceType), as the
    plugin's own triggers say). Every node of a site shares it, so the marker naming the Orthanc that
    last ran on it is the database's comment.
  - Talks to the server with the host's C(psql), C(pg_dump) and C(pg_restore) (package
    C(postgresql-client)), the password in the environment, never on a command line.
  - C(inspect) reads (read-only) whether the index exists, its schema, the counts per level, the
    database size and the marker.
  - C(backup) writes C(pg_dump --format=custom) of the database and the marker to a new dated folder
    under O(backup_root); refused when its file system lacks the database's size.
  - C(restore) drops the tables, sequences, views and functions the database user owns in its schema
    (a newer plugin may have added some) and loads the dump of the folder O(backup), both in one
    transaction (a failure changes nothing), then puts its marker back.
  - C(mark) writes O(marker) as the database's comment (the database's owner may).
  - In check mode nothing is written; what would change is reported.
options:
  action:
    description: What to do.
    type: str
    choices: [inspect, backup, restore, mark]
    default: inspect
  connection:
    description: Where Orthanc's database is and how Orthanc logs in.
    type: dict
    required: true
    suboptions:
      host: {description: PostgreSQL host., type: str, required: true}
      port: {description: PostgreSQL port., type: int, default: 5432}
      database: {description: Orthanc's database., type: str, required: true}
      username: {description: Orthanc's database user., type: str, required: true}
      password: {description: Its password., type: str, default: ""}
  backup_root: {description: The folder that receives the dated backup folder (C(backup))., type: path}
  label: {description: A word put into the backup folder's name (C(backup))., type: str, default: index}
  backup: {description: The backup folder to restore from (C(restore))., type: path}
  marker: {description: The marker to write (C(mark))., type: dict}
  method: {description: The install method of this run., type: str, choices: [package, container], default: package}
  package_version: {description: The installed orthanc package's Debian version, empty when not installed., type: str, default: ""}
  package_candidate: {description: The orthanc package version apt would install., type: str, default: ""}
  container_image: {description: The image of the Orthanc container on the host, empty when none., type: str, default: ""}
  image: {description: The image this run runs (container method)., type: str, default: ""}
author: pacs-provisioner
"""

EXAMPLES = r"""
- name: Back up Orthanc's PostgreSQL index before another Orthanc opens it
  orthanc_upgrade_postgresql:
    action: backup
    connection:
      host: db.hospital.example
      database: orthanc
      username: orthanc
      password: "{{ orthanc_postgresql_password }}"
    backup_root: /var/lib/orthanc
    label: package-1.10.1
"""

RETURN = r"""
exists: {description: Whether the database holds Orthanc's index (null when unreadable)., type: bool, returned: always}
schema: {description: The schema version (GlobalProperties property 1), or null., type: int, returned: always}
counts: {description: Patients, studies, series and instances, named as GET /statistics names them., type: dict, returned: always}
size: {description: The database's size in bytes., type: int, returned: always}
marker: {description: The marker in the database's comment, or null., type: dict, returned: always}
error: {description: Why the database could not be read, or null., type: str, returned: always}
upgrade_needed: {description: An index exists that the Orthanc of this run has not run on., type: bool, returned: always}
path: {description: The backup folder written (C(backup)) or read (C(restore))., type: str, returned: when action is backup or restore}
"""

DUMP = "orthanc.pgdump"
MARKER_COPY = "marker.json"

# One JSON line: does the index exist, the database's comment and size.
INSPECT_SQL = """
SELECT json_build_object(
  'exists', to_regclass('resources') IS NOT NULL AND to_regclass('globalproperties') IS NOT NULL,
  'comment', shobj_description((SELECT oid FROM pg_database WHERE datname = current_database()), 'pg_database'),
  'size', pg_database_size(current_database()));
"""

# One JSON line: the schema version and the number of resources per resourceType.
COUNT_SQL = """
SELECT json_build_object(
  'schema', (SELECT value FROM globalproperties WHERE property = 1),
  'counts', (SELECT json_object_agg(resourcetype, n)
             FROM (SELECT resourcetype, count(*) AS n FROM resources GROUP BY resourcetype) AS c));
"""

# What the user owns in its schema goes, so that the dump restores into an empty schema.
DROP_OWNED_SQL = """
DO $drop$
DECLARE
  statements text[];
  statement text;
BEGIN
  -- Every name is read before anything is dropped (a table's drop takes its sequences along).
  SELECT coalesce(array_agg(format('DROP %s IF EXISTS %s CASCADE',
                                   CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                                  WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                                   c.oid::regclass::text)
                            ORDER BY c.relkind DESC), '{}')
    INTO statements
    FROM pg_class c
   WHERE c.relnamespace = current_schema()::regnamespace
     AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND pg_get_userbyid(c.relowner) = current_user;
  statements := statements || coalesce(
    (SELECT array_agg(format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure::text))
       FROM pg_proc p
      WHERE p.pronamespace = current_schema()::regnamespace AND pg_get_userbyid(p.proowner) = current_user),
    '{}');
  FOREACH statement IN ARRAY statements LOOP
    EXECUTE statement;
  END LOOP;
END
$drop$;
"""

# psql variables (-v) quote the database name and the comment: nothing is pasted into SQL.
MARK_SQL = "COMMENT ON DATABASE :\"pp_db\" IS :'pp_comment';\n"
UNMARK_SQL = "COMMENT ON DATABASE :\"pp_db\" IS NULL;\n"


def levels_to_counts(by_type: dict | None) -> dict:
    """The plugin's counts per resourceType ("0".."3") named as GET /statistics names them."""
    by_type = by_type or {}
    return {name: int(by_type.get(str(level), 0)) for level, name in enumerate(COUNT_NAMES)}


def schema_number(value) -> int | None:
    """The schema version as an int, or None when it is missing or not a number."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def backup_name(label: str, now: datetime.datetime) -> str:
    """The dated backup folder's name: orthanc-pgdump-<label>-<UTC stamp> (label made file-safe)."""
    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in label) or "index"
    return "orthanc-pgdump-%s-%s" % (safe, now.strftime("%Y%m%dT%H%M%SZ"))


def connection_env(params: dict) -> dict:
    """libpq's environment for the connection (the password never on a command line)."""
    return {"PGHOST": params["host"], "PGPORT": str(params["port"]), "PGDATABASE": params["database"],
            "PGUSER": params["username"], "PGPASSWORD": params["password"] or "",
            "PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "pacs-provisioner", "LC_ALL": "C"}


def psql_argv(variables: dict | None = None) -> list:
    """psql reading SQL from stdin: no ~/.psqlrc, unaligned tuples only, stop at the first error."""
    argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    for name, value in sorted((variables or {}).items()):
        argv += ["-v", "%s=%s" % (name, value)]
    return argv + ["-f", "-"]


class Postgres:
    """The client tools run against the site's database."""

    def __init__(self, module):
        self.module = module
        self.env = connection_env(module.params["connection"])

    def run(self, argv, data=None):
        """(rc, stdout, stderr) of a client tool."""
        return self.module.run_command(argv, data=data, environ_update=self.env, binary_data=True)

    def query(self, sql, variables=None):
        """The JSON of each line psql printed; raises RuntimeError with psql's message."""
        rc, out, err = self.run(psql_argv(variables), data=sql)
        if rc != 0:
            raise RuntimeError((err or out).strip() or "psql exited with %d" % rc)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def execute(self, sql, variables=None):
        """Run statements; raises RuntimeError with psql's message."""
        self.query(sql, variables)


def inspect(db: Postgres) -> dict:
    """What the database holds (read-only); error set when psql is missing or the server refuses."""
    answer = {"exists": None, "schema": None, "counts": None, "size": 0, "marker": None, "error": None}
    if not db.module.get_bin_path("psql"):
        answer["error"] = "psql is not installed on this host (package postgresql-client)"
        return answer
    try:
        head = db.query(INSPECT_SQL)[0]
        answer.update(exists=bool(head["exists"]), size=int(head["size"] or 0),
                      marker=marker_from_comment(head["comment"]), counts=levels_to_counts({}))
        if answer["exists"]:
            body = db.query(COUNT_SQL)[0]
            answer.update(schema=schema_number(body["schema"]), counts=levels_to_counts(body["counts"]))
    except (RuntimeError, ValueError, IndexError, KeyError) as exc:
        answer["error"] = str(exc)
    return answer


def do_backup(module, db, answer):
    """pg_dump and the marker into a new dated folder; refused without the database's size free."""
    root = module.params["backup_root"]
    if not root:
        module.fail_json(msg="backup_root is required for action backup", **answer)
    if not answer["exists"] or answer["error"]:
        module.fail_json(msg="no readable Orthanc index in database %s on %s to back up: %s"
                             % (module.params["connection"]["database"], module.params["connection"]["host"], answer["error"]), **answer)
    probe = root if os.path.isdir(root) else os.path.dirname(os.path.abspath(root))
    free = shutil.disk_usage(probe).free
    if free < answer["size"] + 1024 * 1024:
        module.fail_json(msg="not enough space for the database dump in %s: %d bytes free, %d needed"
                             % (probe, free, answer["size"] + 1024 * 1024), **answer)
    path = os.path.join(root, backup_name(module.params["label"], datetime.datetime.now(datetime.timezone.utc)))
    if not module.check_mode:
        os.makedirs(path, mode=0o700)
        rc, out, err = db.run(["pg_dump", "--format=custom", "--no-owner", "--file", os.path.join(path, DUMP)])
        if rc != 0:
            module.fail_json(msg="pg_dump failed: %s" % (err or out).strip(), path=path, **answer)
        with open(os.path.join(path, MARKER_COPY), "w", encoding="utf-8") as handle:
            json.dump(answer["marker"], handle)
    module.exit_json(changed=True, path=path, **answer)


def restore_filter(server_version_num: int):
    """Whether a line of pg_restore's SQL goes to a server of that version (bytes -> bool).

    pg_restore 17 (Debian 13) writes ``SET transaction_timeout = 0;`` whatever the server,
    and a server before 17 refuses the unknown setting; that one line is left out for them.
    """
    def keep(line: bytes) -> bool:
        return server_version_num >= 170000 or line.strip() != b"SET transaction_timeout = 0;"
    return keep


def restore_dump(db, dump: str, server_version_num: int) -> None:
    """Empty the user's schema and load the dump in ONE transaction: all of it, or nothing.

    pg_restore turns the dump into SQL on its stdout; psql runs DROP_OWNED_SQL and that SQL
    with --single-transaction. Streamed line by line (an index dump can be large); both
    programs' messages go to temporary files. Raises RuntimeError with their messages.
    """
    env = dict(os.environ, **db.env)
    keep = restore_filter(server_version_num)
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_out:
        restore = subprocess.Popen(["pg_restore", "--no-owner", "--file", "-", dump],
                                   stdout=subprocess.PIPE, stderr=restore_err, env=env)
        psql = subprocess.Popen(psql_argv() + ["--single-transaction"], stdin=subprocess.PIPE,
                                stdout=psql_out, stderr=subprocess.STDOUT, env=env)
        try:
            psql.stdin.write(DROP_OWNED_SQL.encode())
            for line in restore.stdout:
                if keep(line):
                    psql.stdin.write(line)
            psql.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error: its message says which
        restore.stdout.close()
        restore_rc, psql_rc = restore.wait(), psql.wait()
        if restore_rc != 0 or psql_rc != 0:
            restore_err.seek(0)
            psql_out.seek(0)
            raise RuntimeError("pg_restore: %s; psql: %s" % (
                restore_err.read().decode("utf-8", "replace").strip() or "exit %d" % restore_rc,
                psql_out.read().decode("utf-8", "replace").strip() or "exit %d" % psql_rc))


def do_restore(module, db, answer):
    """Empty the user's schema, restore the dump, put the backup's marker back."""
    backup = module.params["backup"]
    dump = os.path.join(backup or "", DUMP)
    if not backup or not os.path.isfile(dump):
        module.fail_json(msg="no database dump in %s" % backup, **answer)
    if not module.check_mode:
        try:
            server = int(db.query("SELECT to_json(current_setting('server_version_num')::int);")[0])
            restore_dump(db, dump, server)
        except (RuntimeError, OSError, ValueError, IndexError) as exc:
            module.fail_json(msg="the restore of %s failed and changed nothing: %s" % (dump, exc), **answer)
        with open(os.path.join(backup, MARKER_COPY), encoding="utf-8") as handle:
            write_marker(module, db, json.load(handle), answer)
        answer = inspect(db)
    module.exit_json(changed=True, path=backup, **answer)


def write_marker(module, db, marker, answer):
    """The marker as the database's comment (removed when marker is None)."""
    variables = {"pp_db": module.params["connection"]["database"]}
    if marker is not None:
        variables["pp_comment"] = marker_comment(marker)
    try:
        db.execute(MARK_SQL if marker is not None else UNMARK_SQL, variables)
    except RuntimeError as exc:
        module.fail_json(msg="could not write the marker as the comment of database %s: %s"
                             % (module.params["connection"]["database"], exc), **answer)


def main():
    """Run the action the arguments ask for."""
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["inspect", "backup", "restore", "mark"], "default": "inspect"},
            "connection": {"type": "dict", "required": True, "options": {
                "host": {"type": "str", "required": True},
                "port": {"type": "int", "default": 5432},
                "database": {"type": "str", "required": True},
                "username": {"type": "str", "required": True},
                "password": {"type": "str", "default": "", "no_log": True},
            }},
            "backup_root": {"type": "path"},
            "label": {"type": "str", "default": "index"},
            "backup": {"type": "path"},
            "marker": {"type": "dict"},
            **RUN_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    db = Postgres(module)
    answer = inspect(db)
    answer["upgrade_needed"] = upgrade_needed(answer["exists"], answer["marker"], module.params)
    action = module.params["action"]
    if action == "backup":
        do_backup(module, db, answer)
    elif action == "restore":
        do_restore(module, db, answer)
    elif action == "mark":
        wanted = module.params["marker"]
        if answer["error"]:
            module.fail_json(msg="cannot read database %s: %s" % (module.params["connection"]["database"], answer["error"]), **answer)
        changed = answer["marker"] != wanted
        if changed and not module.check_mode:
            write_marker(module, db, wanted, answer)
            answer["marker"] = wanted
        module.exit_json(changed=changed, **answer)
    module.exit_json(changed=False, **answer)


if __name__ == "__main__":
    main()
