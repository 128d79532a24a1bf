"""The package's public surface: a few names, imported only when used, and the README's example runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import assistant

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_public_names_are_the_service_its_settings_answer_seams_and_error():
    from assistant import LLM, Answer, Assistant, AssistantError, Embedder, Settings

    assert (Assistant.__module__, Settings.__module__, Answer.__module__) == (
        "assistant.service", "assistant.config", "assistant.types")
    assert (Embedder.__module__, LLM.__module__, AssistantError.__module__) == (
        "assistant.embed.base", "assistant.llm.client", "assistant.errors")
    assert set(assistant.__all__) == {"Assistant", "Settings", "Answer", "Embedder", "LLM", "AssistantError",
                                      "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        assistant.Nope  # noqa: B018


def test_importing_the_package_loads_no_service_so_the_cli_starts_fast():
    loaded = subprocess.run([sys.executable, "-c", "import sys, assistant; print(sorted(sys.modules))"],
                            check=True, capture_output=True, text=True).stdout
    assert "assistant.service" not in loaded and "numpy" not in loaded


@pytest.mark.slow
def test_the_readme_library_example_answers_with_citations(sample_index, monkeypatch, capsys):
    example = re.search(r"### As a library.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(sample_index.parent)
    assert sample_index.name == "index"

    exec(example, {})

    out = capsys.readouterr().out
    assert "Alexander Golts is a Moscow-based military expert [1]." in out and "\n[1] " in out
