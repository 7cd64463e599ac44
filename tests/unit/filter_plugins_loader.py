"""Make the project's filters (pacs_model's among them) known to Ansible's Templar in unit tests."""

import pathlib

from ansible.plugins.loader import filter_loader

filter_loader.add_directory(str(pathlib.Path(__file__).resolve().parents[2] / "filter_plugins"))
