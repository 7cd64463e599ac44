"""Filters of the orthanc role's container method (the orthancteam/orthanc image).

How that image starts (orthanc-builder docker/orthanc, image 26.8.1): a generator runs the
PyPI ``envsubst`` over the text of every mounted /etc/orthanc/*.json (``$NAME`` and
``${NAME}`` become a variable's value or nothing), merges them with environment
variables, writes /tmp/orthanc.json with ``json.dump``, and Orthanc then replaces every
``${NAME}`` in that file's text with the variable's value (Orthanc 1.5.0+, unknown ones
with nothing) before parsing it. So no ``$`` may appear literally in the mounted file, and
none may reach /tmp/orthanc.json as ``${...}``.

The role therefore writes each ``$`` of every key and string as ``${DOLLAR_VARIABLE}``
(orthanc_container_encode) and the template writes each ``$`` of the JSON text as the JSON
escape ``\\u0024``: envsubst sees no ``$``, ``json.loads`` turns the escape back into
``$``, and Orthanc's own substitution replaces ``${DOLLAR_VARIABLE}`` with the variable's
value, a single ``$``, without scanning what it inserted. Every value reaches Orthanc
unchanged. orthanc_container_decode undoes the encoding, so the file read back compares
equal to the inventory's configuration.
"""

import json
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: orthanc_container_encode
short_description: Encode every $ of an Orthanc configuration for the orthancteam/orthanc start-up
description:
  - Replaces each C($) of every key and string with C(${NAME}), NAME being an environment
    variable of the container whose value is C($). Other filters of this file
    (orthanc_container_decode, orthanc_container_errors, orthanc_container_plugin_env,
    orthanc_container_image_ref) are documented in their docstrings.
positional: name
options:
  _input: {description: The configuration., type: dict, required: true}
  name: {description: The environment variable holding a single C($)., type: str, required: true}
"""

EXAMPLES = r"""
encoded: "{{ {'RegisteredUsers': {'admin': 'a${HOME}'}} | orthanc_container_encode('PACS_PROVISIONER_DOLLAR') }}"
# {'RegisteredUsers': {'admin': 'a${PACS_PROVISIONER_DOLLAR}{HOME}'}}
"""

RETURN = r"""
_value: {description: The configuration with every $ encoded., type: dict}
"""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# A Docker image reference without digest: [registry[:port]/]path[:tag].
_IMAGE_RE = re.compile(r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
                       r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
# generateConfiguration.py's last words after any error (exit -1).
_GENERATOR_SUMMARY = "There were some errors while preparing the configuration file"
_HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period"}


def _walk(value, change):
    """value with change() applied to every dict key and string, recursively."""
    if isinstance(value, dict):
        return {change(k) if isinstance(k, str) else k: _walk(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, change) for v in value]
    if isinstance(value, str):
        return change(value)
    return value


def _check_name(name):
    if not isinstance(name, str) or (name and not _NAME_RE.match(name)):
        raise AnsibleFilterError(f"expected an environment variable name, got {name!r}")


def orthanc_container_encode(config, name):
    """Every ``$`` of every key and string of config written as ``${name}`` (name "": unchanged)."""
    _check_name(name)
    if not name:
        return config
    token = "${" + name + "}"
    return _walk(config, lambda s: s.replace("$", token))


def orthanc_container_decode(config, name):
    """Undo orthanc_container_encode: each ``${name}`` back to ``$``.

    Exact: in an encoded string every ``$`` starts a ``${name}`` token. name "": unchanged
    (the package method, whose files are not encoded)."""
    _check_name(name)
    if not name:
        return config
    token = "${" + name + "}"
    return _walk(config, lambda s: s.replace(token, "$"))


def orthanc_container_image_ref(image, digest=""):
    """The reference Docker runs: image, or image@digest when a digest pins it."""
    return f"{image}@{digest}" if digest else image


def orthanc_container_plugin_env(plugins, known, dicomweb_enabled=True, database="sqlite"):
    """The environment variables that switch the image's plugins on or off.

    plugins: the inventory's {plugin name: bool}; known: {plugin name: its enabling
    variable}. DICOMweb follows dicomweb_enabled and PostgreSQL the database; the image's
    default plugins (Orthanc Explorer 2, GDCM) stay as the image has them unless named.
    Values are "true" or "false" (the image takes anything but "false" as on)."""
    wanted = {"DicomWeb": bool(dicomweb_enabled)}
    if database == "postgresql":
        wanted["PostgreSQL"] = True
    wanted.update({k: bool(v) for k, v in (plugins or {}).items()})
    return {known[name]: "true" if on else "false" for name, on in sorted(wanted.items()) if name in known}


def orthanc_container_errors(settings):
    """Problems of the container method's settings, as "variable[item]: problem" strings.

    settings: orthanc_container_image, orthanc_container_image_digest,
    orthanc_container_user, orthanc_container_plugins, orthanc_container_env,
    orthanc_container_healthcheck, orthanc_dicomweb_enabled, orthanc_database, probe_user
    (the user the image's probe logs in as), authentication (whether it must log in), and
    the tables known_plugins ({name: variable}), legacy_env (names the image refuses) and
    reserved_env."""
    errors = []
    image = settings.get("orthanc_container_image")
    digest = settings.get("orthanc_container_image_digest") or ""
    if not isinstance(image, str) or not _IMAGE_RE.match(image):
        errors.append(f"orthanc_container_image: {image!r} is not an image reference "
                      "([registry/]name[:tag]; pin a digest with orthanc_container_image_digest)")
    if not isinstance(digest, str) or (digest and not _DIGEST_RE.match(digest)):
        errors.append(f"orthanc_container_image_digest: {digest!r} is not sha256: followed by 64 "
                      "lower-case hex digits (docker image inspect --format '{{{{.RepoDigests}}}}')")
    known = settings.get("known_plugins") or {}
    plugins = settings.get("orthanc_container_plugins") or {}
    if not isinstance(plugins, dict):
        errors.append(f"orthanc_container_plugins: expected a dict of plugin name to true/false, "
                      f"got {type(plugins).__name__}")
        plugins = {}
    for name, on in plugins.items():
        if name not in known:
            errors.append(f"orthanc_container_plugins[{name}]: unknown plugin of the orthancteam/orthanc "
                          f"image (known: {', '.join(sorted(known))})")
        elif not isinstance(on, bool):
            errors.append(f"orthanc_container_plugins[{name}]: expected true or false, got {on!r}")
    if plugins.get("DicomWeb") is False and settings.get("orthanc_dicomweb_enabled"):
        errors.append("orthanc_container_plugins[DicomWeb]: false while orthanc_dicomweb_enabled is true; "
                      "set orthanc_dicomweb_enabled: false instead")
    if plugins.get("PostgreSQL") is False and settings.get("orthanc_database") == "postgresql":
        errors.append("orthanc_container_plugins[PostgreSQL]: false while orthanc_database is postgresql")
    env = settings.get("orthanc_container_env") or {}
    legacy = set(settings.get("legacy_env") or [])
    reserved = set(settings.get("reserved_env") or [])
    for key, value in (env.items() if isinstance(env, dict) else []):
        if key in legacy:
            errors.append(f"orthanc_container_env[{key}]: a legacy variable name; the image refuses to "
                          "start with it since 26.7.0 (exit -2): use its ORTHANC__ name")
        elif key in reserved:
            errors.append(f"orthanc_container_env[{key}]: set by the role itself")
        elif key in known.values():
            errors.append(f"orthanc_container_env[{key}]: a plugin switch; use orthanc_container_plugins")
        if key == "ORTHANC_JSON":
            try:
                json.loads(str(value))
            except ValueError as err:
                errors.append(f"orthanc_container_env[ORTHANC_JSON]: not JSON ({err}); the image exits with -1")
    user = settings.get("orthanc_container_user") or ""
    if not isinstance(user, str) or (user and not re.match(r"^[0-9]+:[0-9]+$", user)):
        errors.append(f"orthanc_container_user: {user!r} is not empty (the image's root) or UID:GID "
                      "in numbers, e.g. 999:999 (the image's orthanc user)")
    health = settings.get("orthanc_container_healthcheck")
    if not isinstance(health, dict):
        errors.append("orthanc_container_healthcheck: expected a dict of Docker health check options")
    else:
        for key in sorted(set(health) - _HEALTHCHECK_KEYS):
            errors.append(f"orthanc_container_healthcheck[{key}]: unknown option "
                          f"(known: {', '.join(sorted(_HEALTHCHECK_KEYS))})")
        if health and "test" in health and not health.get("test"):
            errors.append("orthanc_container_healthcheck[test]: empty (the command Docker runs)")
        if health and not health.get("test") and settings.get("authentication") and not settings.get("probe_user"):
            errors.append("orthanc_container_healthcheck: every password in orthanc_users holds a $, and the "
                          "image's probe reads them from /tmp/orthanc.json, where each $ is encoded; give one "
                          "user a password without $, set orthanc_container_healthcheck.test, or {} to switch it off")
    return errors


def orthanc_container_probe_user(users, authentication_enabled=True):
    """The user the image's probe logs in as: the first whose password holds no $ ("" when the
    probe needs no login). The probe reads credentials from /tmp/orthanc.json, where each $ is
    encoded, so it cannot log in with such a password."""
    if not authentication_enabled or not isinstance(users, list):
        return ""
    for user in users:
        if isinstance(user, dict) and "$" not in str(user.get("password", "")) and user.get("name"):
            return user["name"]
    return ""


def orthanc_container_log_cause(lines):
    """The configuration generator's errors in a container log, "" when there are none.

    The image's generator prints "ERROR: <message>" and exits before Orthanc starts; a
    container restarting in a loop repeats them. Returns the distinct messages in order,
    without the generator's closing summary when a specific message precedes it."""
    messages = []
    for line in lines or []:
        if isinstance(line, str) and line.startswith("ERROR: "):
            message = line[len("ERROR: "):].strip()
            if message and message not in messages:
                messages.append(message)
    specific = [m for m in messages if not m.startswith(_GENERATOR_SUMMARY)]
    chosen = specific or messages
    return ("the image's configuration generator refused the configuration: " + " / ".join(chosen)) if chosen else ""


class FilterModule:
    """Filters of the container install method."""

    def filters(self):
        """Map filter names to functions."""
        return {
            "orthanc_container_encode": orthanc_container_encode,
            "orthanc_container_decode": orthanc_container_decode,
            "orthanc_container_image_ref": orthanc_container_image_ref,
            "orthanc_container_plugin_env": orthanc_container_plugin_env,
            "orthanc_container_errors": orthanc_container_errors,
            "orthanc_container_log_cause": orthanc_container_log_cause,
            "orthanc_container_probe_user": orthanc_container_probe_user,
        }
