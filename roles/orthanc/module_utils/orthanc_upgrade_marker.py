"""Which Orthanc last ran on an index: the marker the orthanc role keeps beside it.

The marker is a small JSON object {"method", "version", "image"}: the install method, the
upstream Orthanc version (package method) and the image (container method) of the Orthanc
that last opened the index after a checked upgrade or a first install. An SQLite site keeps
it in the storage folder (``.pacs-provisioner-orthanc.json``); a PostgreSQL site as the
comment of Orthanc's database, which every node sharing the database sees.
"""

from __future__ import annotations

import json

MARKER_FILE = ".pacs-provisioner-orthanc.json"
# Marks the comment of a PostgreSQL database as ours (a site's own comment is left alone).
MARKER_KEY = "pacs-provisioner-orthanc"
# GET /statistics names the counts so; both index kinds are compared with it.
COUNT_NAMES = ("CountPatients", "CountStudies", "CountSeries", "CountInstances")


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian package version: "1:1.12.7+dfsg-1" -> "1.12.7"."""
    version = (debian_version or "").strip().split(":", 1)[-1]
    for stop in "+-~":
        version = version.split(stop, 1)[0]
    return version


def ran_here(marker: dict | None, method: str, package_version: str, container_image: str, image: str,
             package_candidate: str = "") -> bool:
    """Whether the Orthanc of this run is the one that last ran on the index.

    With a marker: the same method and the same upstream package version (the installed one,
    else the one apt would install: a new node of a site or a disk moved to a twin host), or
    the same image. Without one: the package is installed already, or the container runs
    that image already.
    """
    installed = upstream_version(package_version)
    if marker:
        if method == "container":
            return marker.get("method") == "container" and marker.get("image") == image
        version = installed or upstream_version(package_candidate)
        return marker.get("method") == "package" and bool(version) and marker.get("version") == version
    return container_image == image if method == "container" else bool(installed)


def marker_comment(marker: dict) -> str:
    """The database comment that holds a marker: one JSON object under MARKER_KEY."""
    return json.dumps({MARKER_KEY: marker}, sort_keys=True)


def marker_from_comment(comment: str | None) -> dict | None:
    """The marker a database comment holds, or None (no comment, or a site's own comment)."""
    try:
        data = json.loads(comment or "")
    except ValueError:
        return None
    marker = data.get(MARKER_KEY) if isinstance(data, dict) else None
    return marker if isinstance(marker, dict) else None


# The options both upgrade modules take to name the Orthanc of this run.
RUN_ARGUMENT_SPEC = {
    "method": {"type": "str", "choices": ["package", "container"], "default": "package"},
    "package_version": {"type": "str", "default": ""},
    "package_candidate": {"type": "str", "default": ""},
    "container_image": {"type": "str", "default": ""},
    "image": {"type": "str", "default": ""},
}


def upgrade_needed(exists, marker: dict | None, params: dict) -> bool:
    """An index exists that the Orthanc these module params name (RUN_ARGUMENT_SPEC) has not run on."""
    return bool(exists) and not ran_here(marker, params["method"], params["package_version"],
                                         params["container_image"], params["image"], params["package_candidate"])
