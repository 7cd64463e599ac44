"""Filters of the orthanc role's upgrade guard (roles/orthanc/tasks/upgrade.yml).

Before another Orthanc opens an SQLite index, the role reads it, backs it up and hands the
storage over. That needs the folder on the host that holds the index: the package method's
orthanc_storage_dir and orthanc_index_dir, the container method's orthanc_container_storage
when it is a path, or, when it names a Docker volume, the volume's folder on the Docker host
(its ``Mountpoint``, as ``docker volume inspect`` and community.docker.docker_volume_info
report it). Docker's ``local`` driver keeps a volume's files in that folder
(``/var/lib/docker/volumes/<name>/_data``) and removes the folder above it, the volume's own,
with ``docker volume rm``; it also takes every folder under ``/var/lib/docker/volumes`` for a
volume. A backup therefore goes to neither but to orthanc_upgrade_backup_dir, else
``/var/backups/orthanc``.
"""

import posixpath

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: orthanc_upgrade_storage
short_description: The host folders holding Orthanc's SQLite index, and where its backup goes
description:
  - For the package method the storage and index folders named by the inventory; for the container
    method the storage path, or the folder of the named Docker volume on the Docker host.
  - A volume that does not exist yet holds nothing to upgrade (C(storage) empty). A volume whose files
    are not in a host folder the role can read (another driver than C(local), or C(local) with mount
    options such as an NFS share, mounted only while a container uses it) has C(storage) empty and a
    C(problem) naming it.
positional: volume
options:
  _input:
    description: >-
      C(method) (package or container), C(storage_dir), C(index_dir), C(container_storage),
      C(backup_dir) (empty for the default).
    type: dict
    required: true
  volume:
    description: >-
      The named volume's inspection (the C(volume) that community.docker.docker_volume_info returns,
      null when it does not exist); ignored unless the container storage names a volume.
    type: dict
"""

EXAMPLES = r"""
paths: >-
  {{ {'method': 'container', 'storage_dir': '/var/lib/orthanc/db-v6', 'index_dir': '/var/lib/orthanc/db-v6',
      'container_storage': 'orthanc-storage', 'backup_dir': ''}
     | orthanc_upgrade_storage({'Name': 'orthanc-storage', 'Driver': 'local', 'Options': None,
                                'Mountpoint': '/var/lib/docker/volumes/orthanc-storage/_data'}) }}
# {'storage': '/var/lib/docker/volumes/orthanc-storage/_data', 'index_dir': (the same),
#  'backup_root': '/var/backups/orthanc', 'volume': 'orthanc-storage', 'problem': ''}
"""

RETURN = r"""
_value:
  description: >-
    C(storage) and C(index_dir) (empty when there is nothing the role can read), C(backup_root),
    C(volume) (the volume's name, or empty), C(problem) (why a volume cannot be read, or empty).
  type: dict
"""

VOLUME_BACKUP_ROOT = "/var/backups/orthanc"
_KEYS = ("method", "storage_dir", "index_dir", "container_storage", "backup_dir")


def _paths(storage, index_dir, backup_dir, default_root, volume="", problem=""):
    """The answer of orthanc_upgrade_storage."""
    return {"storage": storage, "index_dir": index_dir, "backup_root": backup_dir or default_root,
            "volume": volume, "problem": problem}


def volume_problem(name, volume):
    """Why the named volume's files are not in a host folder the role can read, or ""."""
    driver = volume.get("Driver") or ""
    options = volume.get("Options") or {}
    mountpoint = volume.get("Mountpoint") or ""
    if driver != "local" or options:
        return ("the named Docker volume %r (driver %r%s) keeps its files where the role cannot read "
                "them while no container uses it: set orthanc_container_storage to a host folder, or back "
                "the index up yourself" % (name, driver, ", options %s" % sorted(options) if options else ""))
    if not posixpath.isabs(mountpoint):
        return "the named Docker volume %r reports no folder on the Docker host (Mountpoint %r)" % (name, mountpoint)
    return ""


def orthanc_upgrade_storage(settings, volume=None):
    """The folders holding the index for the upgrade guard, and the backup's folder.

    settings: method, storage_dir, index_dir, container_storage, backup_dir (the role's
    variables); volume: docker_volume_info's ``volume`` for a named volume (None: absent).
    """
    if not isinstance(settings, dict) or any(k not in settings for k in _KEYS):
        raise AnsibleFilterError("orthanc_upgrade_storage expects a dict with %s, got %r" % (", ".join(_KEYS), settings))
    method, backup_dir = settings["method"], settings["backup_dir"] or ""
    if method == "package":
        storage = settings["storage_dir"]
        return _paths(storage, settings["index_dir"] or storage, backup_dir, posixpath.dirname(storage.rstrip("/")))
    if method != "container":
        raise AnsibleFilterError("orthanc_upgrade_storage: method must be package or container, got %r" % (method,))
    storage = settings["container_storage"]
    if not isinstance(storage, str) or not storage:
        raise AnsibleFilterError("orthanc_upgrade_storage: container_storage must be a path or a volume name, "
                                 "got %r" % (storage,))
    if storage.startswith("/"):
        return _paths(storage, storage, backup_dir, posixpath.dirname(storage.rstrip("/")))
    if volume is None:
        # Created by this run: nothing stored yet.
        return _paths("", "", backup_dir, VOLUME_BACKUP_ROOT, volume=storage)
    if not isinstance(volume, dict):
        raise AnsibleFilterError("orthanc_upgrade_storage: volume must be Docker's inspection of %r (a dict) "
                                 "or null, got %s" % (storage, type(volume).__name__))
    problem = volume_problem(storage, volume)
    if problem:
        return _paths("", "", backup_dir, VOLUME_BACKUP_ROOT, volume=storage, problem=problem)
    mountpoint = volume["Mountpoint"]
    return _paths(mountpoint, mountpoint, backup_dir, VOLUME_BACKUP_ROOT, volume=storage)


class FilterModule:
    """Filters of the upgrade guard."""

    def filters(self):
        """Map filter names to functions."""
        return {"orthanc_upgrade_storage": orthanc_upgrade_storage}
