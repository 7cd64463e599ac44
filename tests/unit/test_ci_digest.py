"""The CI failure digest (.ci/digest.py): what failed, in the lines CI shows."""
import importlib.util
import pathlib

_SPEC = importlib.util.spec_from_file_location(
    "ci_digest", pathlib.Path(__file__).resolve().parents[2] / ".ci" / "digest.py")
digest_module = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(digest_module)
digest = digest_module.digest

MOLECULE_LOG = [
    "  \x1b[2m│\x1b[0m TASK [orthanc : Install the Orthanc packages] ****\n",
    "  \x1b[2m│\x1b[0m ok: [pp-default-pacs]\n",
    "  \x1b[2m│\x1b[0m TASK [orthanc : Restart Orthanc and wait until it answers HTTP] ****\n",
    '  \x1b[2m│\x1b[0m \x1b[31mfatal: [pp-default-tls]: FAILED! => {"msg": "Orthanc did not answer"}\x1b[0m\n',
    "  \x1b[2m│\x1b[0m PLAY RECAP\n",
]


def test_names_the_failed_task_and_its_message_without_colours():
    assert digest(MOLECULE_LOG) == [
        "TASK [orthanc : Restart Orthanc and wait until it answers HTTP]",
        'fatal: [pp-default-tls]: FAILED! => {"msg": "Orthanc did not answer"}']


def test_pytest_failures_and_the_limits():
    lines = ["FAILED tests/unit/test_x.py::test_%d - AssertionError: %s\n" % (n, "x" * 500) for n in range(30)]
    out = digest(lines, limit=4, width=60)
    assert len(out) == 4 and all(len(line) == 60 for line in out)
    assert out[0].startswith("FAILED tests/unit/test_x.py::test_0")


def test_a_clean_log_gives_nothing_and_ignored_errors_are_left_out():
    assert digest(["ok: [pp-default-pacs]\n", "TASK [x : Probe]\n", 'fatal: [h]: FAILED! => {"rc": 1}\n',
                   "...ignoring\n", "PLAY RECAP\n", "3 passed in 1.0s\n"]) == []
