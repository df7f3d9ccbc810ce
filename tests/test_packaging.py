"""The distribution installs one top-level package, ``sunlight``, with every folder of ours in it.

The product card fixes the folders ``monitor/``, ``checks/`` and ``alerts/`` at
the top of the repository; ``pyproject.toml`` maps them to ``sunlight.monitor``,
``sunlight.checks`` and ``sunlight.alerts`` and lists each package explicitly.
These tests fail when a new package folder is not listed, or when the wheel
would put anything but ``sunlight`` into site-packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def package_folders() -> set[str]:
    """Every folder under the three packages that holds Python files, as a dotted name."""
    found: set[str] = set()
    for top in ("monitor", "checks", "alerts"):
        for path in (ROOT / top).rglob("*"):
            if path.is_dir() and "__pycache__" not in path.parts and any(path.glob("*.py")):
                found.add("sunlight." + ".".join(path.relative_to(ROOT).parts))
        found.add(f"sunlight.{top}")
    return found


def test_every_package_folder_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = package_folders() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    assert "sunlight.alerts.templates" in listed  # data-only folder, installed as a package


def test_distribution_name_is_ours() -> None:
    # the bare name 'sunlight' on PyPI is another project ("Unified Sunlight API bindings")
    assert PYPROJECT["project"]["name"] == "sunlight-jiancha"
    assert PYPROJECT["project"]["scripts"]["sunlight"] == "sunlight.monitor.cli:main"
    assert any(dep.startswith("tzdata") for dep in PYPROJECT["project"]["dependencies"])


def test_wheel_holds_only_the_sunlight_namespace(tmp_path: Path) -> None:
    # built from a copy: setuptools writes build/ beside the sources
    tree = tmp_path / "src"
    for name in ("monitor", "checks", "alerts"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(tree)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"sunlight"}
    assert "sunlight/__init__.py" not in names  # a PEP 420 namespace: nothing of ours at the top
    for shipped in ("sunlight/monitor/py.typed", "sunlight/checks/py.typed", "sunlight/alerts/py.typed",
                    "sunlight/alerts/templates/letter.txt.j2",
                    "sunlight/monitor/store/migrations/env.py"):
        assert shipped in names, shipped


def test_no_bare_top_level_imports() -> None:
    """Every command's module loads nothing from a bare ``monitor``, ``checks`` or ``alerts`` module."""
    code = ("import sys, sunlight.monitor.cli as cli, sunlight.checks.registry as r; r.load_all(); "
            "[cli.load(e) for e in cli.COMMANDS]; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('monitor', 'checks', 'alerts')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
