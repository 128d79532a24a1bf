"""A built wheel works on its own: its prompts, calibration and model files come from the install.

The wheel is really built (setuptools, from a copy of the sources) and installed into a fresh venv;
the check then runs from an empty directory, so nothing can come from the source tree. To stay
fast and offline, the fresh venv borrows the dependencies of the venv running the tests through a
.pth line: a directory named in a .pth file is put on sys.path but its own .pth files are not run,
so the test venv's editable install of `assistant` stays out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

CHECK = """
import sys
from pathlib import Path

import assistant
from assistant.answer.candidates import Calibration
from assistant.answer.reader import Reader
from assistant.embed.onnx import OnnxEmbedder
from assistant.llm.prompts import Prompts

installed = Path(assistant.__file__).resolve()
assert installed.is_relative_to(Path(sys.prefix).resolve()), installed
prompts = Prompts.load(Path("prompts"))  # no such directory here: every template is the packaged one
assert all(Path(str(t.path)).resolve().is_relative_to(installed.parent) for t in (prompts.answer, prompts.answer_system, prompts.condense))
assert "{" not in prompts.system("NOT FOUND")
assert Calibration.load().ranker.weights
probability = Reader().score("who is Golts?", ["Alexander Golts is a military expert."])
assert probability.shape == (1,) and 0 <= probability[0] <= 1
assert OnnxEmbedder().embed(["Golts"]).shape[0] == 1
assert all((installed.parent / "static" / name).is_file()
           for name in ("chat.js", "chat.css", "page.css", "embed.css", "unlock.js"))
from assistant.serve import html
assert ".qa-marker" in html.CSS and "main {" in html.PAGE_CSS  # styles read from the installed package
print("ok", installed)
"""


def test_an_installed_wheel_loads_its_prompts_and_model_files(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT / "assistant", source / "assistant", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                    str(source)], check=True)
    [wheel] = (tmp_path / "dist").glob("assistant-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], check=True)

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-I", "-c", CHECK], cwd=empty, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")
