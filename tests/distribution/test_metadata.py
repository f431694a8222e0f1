"""What the distribution declares: compatible ranges, exact pins for the tests, py.typed, the
licence."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import bellwire

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[requirement.name.lower().replace("_", "-")] = Version(specifier.version)
    return pins


def test_runtime_dependencies_are_ranges_and_the_constraints_pin_inside_them() -> None:
    pins = _pins()
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        operators = {s.operator for s in requirement.specifier}
        assert "==" not in operators and {">=", "<"} <= operators, line
        assert pins[requirement.name] in requirement.specifier, line
    for line in PYPROJECT["project"]["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        assert requirement.name.lower() in pins, line


def test_the_tests_run_on_the_pinned_versions() -> None:
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific pin (uvloop on Windows)
        assert Version(installed) == version, f"{name} {installed}: run scripts/install dev"


def test_boto3_is_installed_with_bellwire() -> None:
    requires = [
        Requirement(r).name for r in metadata.requires("bellwire") or [] if "extra" not in r
    ]
    assert {"boto3", "botocore", "aiohttp", "websockets"} <= set(requires)


def test_py_typed_and_license() -> None:
    assert (Path(bellwire.__file__).parent / "py.typed").exists()
    assert PYPROJECT["tool"]["setuptools"]["package-data"]["bellwire"] == ["py.typed"]
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 10_000
