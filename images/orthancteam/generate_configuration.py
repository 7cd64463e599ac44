"""The configuration generator of pacs-provisioner's stand-in for orthancteam/orthanc.

Written from the real image's sources (orthanc-server/orthanc-builder, folder
docker/orthanc, image 26.8.1: generateConfiguration.py, configurator.py, helpers.py,
orthanc-defaults.json, plugins-def.json) and the PyPI package envsubst 0.1.5 that the
real image installs. Each rule below names the real file and behaviour it reproduces,
including the real ones' quirks (an unparseable file is not an error of its own).

It reads every /etc/orthanc/*.json and /run/secrets/*.json, runs envsubst over each
file's text, strips comments, deep-merges them, then the environment variables, then the
secrets in /run/secrets, then the image's defaults and those of the enabled plugins,
links the enabled plugins' libraries and writes /tmp/orthanc.json. Exit codes: -1
configuration errors, -2 deprecated (legacy) settings, -3 authentication and remote
access on without any registered user.
"""

import errno
import glob
import json
import os
import re
import shutil
import sys

# ---------------------------------------------------------------------------------------
# envsubst 0.1.5 (PyPI, installed by docker/orthanc/Dockerfile: `pip install envsubst==0.1.5`)
# Two passes over the text: first $NAME, then ${NAME}, ${NAME:-default}, ${NAME-default}.
# A `$` preceded by a backslash is left alone (the backslash stays). An unset variable
# becomes an empty string; a numeric name is an argument of the generator's own argv.
# ---------------------------------------------------------------------------------------
_SIMPLE_RE = re.compile(r"(?<!\\)\$([A-Za-z0-9_]+)")
_EXTENDED_RE = re.compile(r"(?<!\\)\$\{([A-Za-z0-9_]+)((:?-)([^}]+))?\}")


def _resolve_var(name, default, environ, argv):
    """The value of one variable as envsubst 0.1.5 resolves it (numeric: argv)."""
    try:
        index = int(name)
    except ValueError:
        return environ.get(name, default)
    try:
        return argv[index]
    except IndexError:
        return default


def envsubst(text, environ=None, argv=None):
    """Substitute environment variables in text exactly like envsubst 0.1.5's envsubst()."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv

    def simple(match):
        return _resolve_var(match.group(1), "", environ, argv)

    def extended(match):
        name, spec = match.group(1), match.group(2)
        if not spec:
            return _resolve_var(name, "", environ, argv)
        default = _SIMPLE_RE.sub(simple, match.group(4))
        if match.group(3) == ":-":
            return _resolve_var(name, None, environ, argv) or default
        return _resolve_var(name, default, environ, argv)

    return _EXTENDED_RE.sub(extended, _SIMPLE_RE.sub(simple, text))


# ---------------------------------------------------------------------------------------
# helpers.py
# ---------------------------------------------------------------------------------------
_COMMENTS_RE = re.compile(r'//.*?$|/\*.*?\*/|\'(?:\\.|[^\\\'])*\'|"(?:\\.|[^\\"])*"',
                          re.DOTALL | re.MULTILINE)


def remove_comments(text):
    """helpers.removeCppCommentsFromJson: // and /* */ comments become one space each;
    quoted strings (double or single quotes) are kept as they are."""
    return _COMMENTS_RE.sub(lambda m: " " if m.group(0).startswith("/") else m.group(0), text)


def env_var_to_camel_case(name):
    """helpers.envVarToCamelCase: QUERY_RETRIEVE_SIZE -> QueryRetrieveSize."""
    return "".join(word[0] + word.lower()[1:] for word in name.split("_"))


def insert_in_dict(path, value):
    """helpers.insertInDict: ["A", "B"], v -> {"A": {"B": v}}."""
    return {path[0]: value if len(path) == 1 else insert_in_dict(path[1:], value)}


def is_env_defined_empty_or_true(name, environ):
    """helpers.isEnvVarDefinedEmptyOrTrue."""
    return name in environ and environ[name] in ("", "true")


class Log:
    """helpers.logInfo/logWarning/logError: info only in verbose mode, on stdout."""

    def __init__(self, verbose=False, out=None):
        self.verbose = verbose
        self.out = out

    def _print(self, text):
        print(text, file=self.out or sys.stdout, flush=True)

    def info(self, text):
        """Print text only in verbose mode (VERBOSE_STARTUP)."""
        if self.verbose:
            self._print(text)

    def warning(self, text):
        """Print "WARNING: text"."""
        self._print("WARNING: " + text)

    def error(self, text):
        """Print "ERROR: text"."""
        self._print("ERROR: " + text)


def _load_table(path):
    """One of the image's JSON tables, without this stand-in's "_comment" entries."""
    with open(path, encoding="utf-8") as handle:
        return {k: v for k, v in json.load(handle).items() if not k.startswith("_")}


class Configurator:
    """configurator.OrthancConfigurator: the merged configuration and what went wrong."""

    def __init__(self, folder, log=None, plugins_available="/usr/share/orthanc/plugins-available",
                 run_plugins="/run/orthanc/plugins", plugins="/usr/share/orthanc/plugins"):
        self.log = log or Log()
        self.configuration = {}
        self.source = {}
        self.has_errors = False
        self.deprecated = []
        self.secret_files = {}
        self.enabled_by_env = set()
        self.disabled_by_env = set()
        self.plugins_available, self.run_plugins, self.plugins = plugins_available, run_plugins, plugins
        # loadSettings: env-var-legacy*.json, env-var-non-standards*.json,
        # orthanc-defaults.json, plugins-def*.json beside the generator.
        self.legacy = {}
        for path in glob.glob(os.path.join(folder, "env-var-legacy*.json")):
            self.legacy.update(_load_table(path))
        self.non_standard = dict(self.legacy)
        for path in glob.glob(os.path.join(folder, "env-var-non-standards*.json")):
            self.non_standard.update(_load_table(path))
        defaults = os.path.join(folder, "orthanc-defaults.json")
        self.defaults = _load_table(defaults) if os.path.exists(defaults) else {}
        self.plugins_def = {}
        for path in glob.glob(os.path.join(folder, "plugins-def*.json")):
            self.plugins_def.update(_load_table(path))

    # _mergeConfigs: dicts merge key by key; any other value replaces (overwrite=True, with a
    # warning) or is kept (overwrite=False, for defaults). Lists are not merged.
    def _merge(self, first, second, source, path, overwrite):
        for key, value in second.items():
            key_path = path + [key]
            apply = True
            if isinstance(value, dict) and key in first:
                self._merge(first[key], value, source, key_path, overwrite)
                apply = False
            elif key in first:
                if overwrite:
                    where = self.source.get(".".join(key_path))
                    self.log.warning(f"{'.'.join(key_path)} has already been defined"
                                     + (f" in {where}" if where else "")
                                     + f"; it will be overwritten by the value defined in {source}")
                else:
                    apply = False
            if apply:
                self.source[".".join(key_path)] = source
                first[key] = value
        return first

    def merge_file(self, config, path):
        """mergeConfigFromFile."""
        self._merge(self.configuration, config, "file:" + path, [], True)

    def json_path(self, name):
        """getJsonPathFromEnvVarName: ORTHANC__DICOM_WEB__ROOT -> ["DicomWeb", "Root"]."""
        if name in self.non_standard:
            return self.non_standard[name].split(".")
        for prefix, fixed in (("ORTHANC__POSTGRESQL__", "ORTHANC__POSTGRE_S_Q_L__"),
                              ("ORTHANC__MYSQL__", "ORTHANC__MY_S_Q_L__"),
                              ("ORTHANC__OHIF__", "ORTHANC__O_H_I_F__")):
            if name.startswith(prefix):
                name = name.replace(prefix, fixed)
                break
        if name.startswith("ORTHANC__"):
            return [env_var_to_camel_case(token) for token in name[len("ORTHANC__"):].split("__")]
        raise ValueError("unhandled env-var name: " + name)

    def set_config(self, path, value, source):
        """setConfig: the value through json.loads when it parses (numbers, booleans, JSON),
        else the string as it is; merged over what the files set."""
        try:
            value = json.loads(value)
        except ValueError:
            pass
        self._merge(self.configuration, insert_in_dict(path, value), source, [], True)

    def _deprecated(self, name):
        self.deprecated.append(name)

    def merge_env(self, key, value):
        """mergeConfigFromEnvVar."""
        if key == "ORTHANC_JSON":
            try:
                config = json.loads(remove_comments(value))
            except ValueError:
                self.log.error("Unable to parse the ORTHANC_JSON env-var, probably due to an invalid JSON syntax")
                self.has_errors = True
                return
            self._merge(self.configuration, config, "env-var: ORTHANC_JSON", [], True)
        elif key.endswith("_SECRET"):
            # the value names a file in /run/secrets holding the value of key without _SECRET
            self.secret_files[value] = key[:-len("_SECRET")]
        elif key.startswith("ORTHANC__") or key in self.non_standard:
            if key in self.legacy:
                self.log.warning("You're using a deprecated environment variable name: " + key)
                self._deprecated(key)
            self.set_config(self.json_path(key), value, "env-var:" + key)
        else:
            for name, definition in self.plugins_def.items():
                for field, legacy in (("enablingEnvVar", False), ("enablingEnvVarLegacy", True)):
                    if definition.get(field) != key:
                        continue
                    (self.disabled_by_env if value == "false" else self.enabled_by_env).add(name)
                    if legacy:
                        self.log.warning(f"You're using a deprecated env-var to enable the {name} plugin, "
                                         f"you should use {definition['enablingEnvVar']} instead of {key}")
                        self._deprecated(key)

    def merge_secret(self, path, content, secrets_dir="/run/secrets"):
        """mergeConfigFromSecret: a file named by a *_SECRET variable, or named ORTHANC__...
        (or a non-standard or legacy name) itself; its content (trailing newlines removed by
        the caller) goes through setConfig like an environment variable's value."""
        relative = path[len(secrets_dir.rstrip("/") + "/"):]
        if relative in self.secret_files:
            name = self.secret_files[relative]
        elif relative.startswith("ORTHANC__") or relative in self.non_standard:
            if relative in self.legacy:
                self.log.warning("You're using a deprecated secret name: " + relative)
                self._deprecated(relative)
            name = relative
        else:
            return
        try:
            json_path = self.json_path(name)
        except ValueError:
            self.log.info("secret won't be read: " + name)
            return
        self.set_config(json_path, content, "secret:" + name)

    def enabled_plugins(self):
        """getEnabledPlugins: a plugin is on when its section is in the configuration or its
        variable is set to anything but "false" (only the variable for the ones that require it);
        PythonScript at the root enables Python; enabledByDefault ones are on; an explicit
        "false" wins over everything."""
        enabled = []
        for name, definition in self.plugins_def.items():
            section = definition.get("section", name)
            if definition.get("enablingEnvVarIsRequired"):
                on = name in self.enabled_by_env
            else:
                on = section in self.configuration or name in self.enabled_by_env
                if "enablingRootSetting" in definition:
                    on = definition["enablingRootSetting"] in self.configuration or on
            if definition.get("enabledByDefault"):
                on = True
            if name in self.disabled_by_env:
                on = False
            if on:
                enabled.append(name)
        return enabled

    def merge_defaults(self, link=True):
        """mergeConfigFromDefaults: the image's defaults where nothing was set, then each
        enabled plugin's defaults in its section; each enabled plugin's libraries hard-linked
        (copied across file systems) from plugins-available into /run/orthanc/plugins when
        that folder exists, else /usr/share/orthanc/plugins; a library already there is kept."""
        self._merge(self.configuration, self.defaults, "defaults:orthanc", [], False)
        for name in self.enabled_plugins():
            self.log.info(name + " is enabled")
            definition = self.plugins_def[name]
            if "nonStandardDefaults" in definition:
                self._merge(self.configuration,
                            {definition.get("section", name): definition["nonStandardDefaults"]},
                            "defaults:" + name, [], False)
            if not link:
                continue
            for lib in definition.get("libs", []):
                try:
                    source = os.path.join(self.plugins_available, lib)
                    target = os.path.join(self.run_plugins if os.path.isdir(self.run_plugins) else self.plugins, lib)
                    if not os.path.isfile(target):
                        try:
                            os.link(source, target)
                        except OSError as err:
                            if err.errno != errno.EXDEV:
                                raise
                            shutil.copy(source, target)
                except Exception as ex:  # pylint: disable=broad-except  # as the real one: any failure is an error
                    self.log.error(f"failed to install {lib} file: {ex}")
                    self.has_errors = True


def read_config_files(configurator, paths, environ=None, argv=None):
    """generateConfiguration.py's file loop: envsubst over the text, comments removed,
    json.loads, merged in the given (glob) order.

    As in the real one, an unparseable file only logs an error: the variable holding the
    parsed file keeps the previous file's value, which is merged again, and when the first
    file fails there is none, so the generator dies with a NameError (exit status 1)."""
    previous = None
    have_previous = False
    for path in paths:
        configurator.log.info("reading configuration from " + path)
        with open(path, encoding="utf-8") as handle:
            content = envsubst(handle.read(), environ, argv)
        try:
            previous = json.loads(remove_comments(content))
            have_previous = True
        except ValueError:
            configurator.log.error(f"Unable to parse Json file '{path}'; check syntax")
        if not have_previous:
            raise NameError("name 'configFromFile' is not defined")
        configurator.merge_file(previous, path)


def add_orthanc_password(config, environ):
    """ORTHANC_PASSWORD (image 26.7.0+) adds or replaces the user "orthanc"."""
    password = environ.get("ORTHANC_PASSWORD")
    if password:
        if not config.get("RegisteredUsers"):
            config["RegisteredUsers"] = {"orthanc": password}
        else:
            config["RegisteredUsers"]["orthanc"] = password


def refuses_no_user(config):
    """True when authentication and remote access are on (or unset) and no user is declared."""
    return (config.get("RemoteAccessAllowed", True) and config.get("AuthenticationEnabled", True)
            and not config.get("RegisteredUsers"))


def generate(folder, environ, etc_dir="/etc/orthanc", secrets_dir="/run/secrets",
             output="/tmp/orthanc.json", log=None, argv=None, **plugin_dirs):
    """Run the whole generator; returns the exit status (0, -1, -2 or -3) and writes output on 0."""
    log = log or Log(is_env_defined_empty_or_true("VERBOSE_STARTUP", environ)
                     or is_env_defined_empty_or_true("BUNDLE_DEBUG", environ))
    if is_env_defined_empty_or_true("BUNDLE_DEBUG", environ):
        log.warning("You're using a deprecated env-var, you should use VERBOSE_STARTUP instead of BUNDLE_DEBUG")
    configurator = Configurator(folder, log, **plugin_dirs)
    read_config_files(configurator, glob.glob(os.path.join(etc_dir, "*.json"))
                      + glob.glob(os.path.join(secrets_dir, "*.json")), environ, argv)
    for key, value in environ.items():
        configurator.merge_env(key, value)
    for path in glob.glob(os.path.join(secrets_dir, "*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                configurator.merge_secret(path, handle.read().rstrip("\n"), secrets_dir)
    configurator.merge_defaults(link=True)
    log.info("generated configuration file: " + json.dumps(configurator.configuration, indent=2))
    if configurator.deprecated:
        log.error("************* you are using deprecated settings; since image 26.7.0 Orthanc refuses "
                  "to start as long as you are still using these deprecated variables *************")
        log.error("** List of deprecated settings: ")
        for name in configurator.deprecated:
            log.error(f"** {name}")
        return -2
    if configurator.has_errors:
        log.error("There were some errors while preparing the configuration file for Orthanc.")
        return -1
    config = configurator.configuration
    add_orthanc_password(config, environ)
    if refuses_no_user(config):
        log.error("********** HTTP authentication is enabled and Remote Access is allowed, but no user "
                  "is declared. Starting with Orthanc 1.13.0, you must at least explicitly declare one "
                  "user in the configuration option \"RegisteredUsers\".")
        return -3
    log.info("generating temporary configuration file in " + output)
    with open(output, "w+t", encoding="utf-8") as handle:
        json.dump(config, fp=handle, indent=2)
    return 0


def main():
    """Entry point, as `python3 generateConfiguration.py` in /startup."""
    status = generate(os.path.dirname(os.path.realpath(__file__)), dict(os.environ))
    sys.exit(status)


if __name__ == "__main__":
    main()
