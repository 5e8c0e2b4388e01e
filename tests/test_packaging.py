"""Installing the package: its metadata builds without warnings on a current setuptools."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_package_metadata_builds_without_deprecation_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make install` printed a boxed 'project.license as a TOML table is deprecated'."""
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)  # the readme and package paths are relative to the project
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.name == "milwatch"
    assert dist.metadata.license_expression == "Apache-2.0"
