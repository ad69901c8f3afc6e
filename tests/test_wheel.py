"""The wheel a user installs: into a fresh venv, with no Rust toolchain anywhere on PATH.

``make wheel`` builds ``dist/thumbsel-*.whl`` (``make test`` does it first);
set ``THUMBSEL_WHEEL`` to test another one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "bigbuckbunny.mp4"
# No cargo, no rustc, no maturin: only the system's own directories.
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


def the_wheel() -> Path:
    given = os.environ.get("THUMBSEL_WHEEL")
    wheels = [Path(given)] if given else sorted((ROOT / "dist").glob("thumbsel-*.whl"))
    if len(wheels) != 1 or not wheels[0].is_file():
        pytest.fail(f"expected one wheel in {ROOT / 'dist'} (run `make wheel`), found {wheels}")
    return wheels[0]


def test_the_wheel_is_abi3_manylinux_with_its_templates_and_models() -> None:
    wheel = the_wheel()
    assert "-cp311-abi3-" in wheel.name and "manylinux" in wheel.name, wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "thumbsel/_core.abi3.so" in names
    assert {"thumbsel/py.typed", "thumbsel/_core.pyi"} <= names
    templates = {name for name in names if name.startswith("thumbsel/outputs/templates/")}
    assert any(name.endswith(".css") for name in templates), templates
    assert any(name.endswith(".j2") for name in templates), templates
    models = {name for name in names if name.startswith("thumbsel/people/models/")}
    assert {f"thumbsel/people/models/{n}" for n in ("LICENSE", "NOTICE")} <= models
    assert len([name for name in models if name.endswith(".tflite")]) == 4
    assert not any(name.startswith(("tests/", "rust/", "benches/")) for name in names)


def test_a_fresh_venv_without_rust_runs_pick_on_the_sample(tmp_path: Path) -> None:
    wheel = the_wheel()
    venv = tmp_path / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base_python), "-m", "venv", str(venv)], check=True, timeout=300)
    environment = {
        "PATH": f"{venv / 'bin'}:{BARE_PATH}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for tool in ("cargo", "rustc", "maturin"):
        assert shutil.which(tool, path=environment["PATH"]) is None, tool
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    outdir = tmp_path / "picks"
    pick = subprocess.run(
        ["thumbsel", "pick", str(SAMPLE), "-k", "4", "-o", str(outdir)],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
        cwd=tmp_path,
        check=False,
    )
    assert pick.returncode == 0, pick.stderr
    assert pick.stderr == ""
    candidates = json.loads((outdir / "candidates.json").read_text(encoding="utf-8"))
    assert 1 <= len(candidates) <= 4
    assert all((outdir / c["image"]).is_file() for c in candidates)
    # The installed package is the wheel's, not this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import thumbsel; print(thumbsel.__file__)"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout
    report = (outdir / "report.html").read_text(encoding="utf-8")
    assert "<svg" in report and "bigbuckbunny.mp4" in report
