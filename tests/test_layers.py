"""Data flows one way: a module never imports one from a higher pipeline stage."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

# Bottom to top, as in the README's picture: each line is a stage (a folder) or a step within one.
# Modules on one line may import each other (but never in a circle, see test_imports) and any line below.
LAYERS = [
    ["types", "errors", "config", "limits"],
    ["text.terms"],
    ["ingest.sources", "ingest.chunking", "embed.base", "embed.onnx"],
    ["store.keyword", "store.vector_index", "store.feedback", "store.catalog", "store.milvus"],
    ["ingest.indexer", "ingest.ray_pipeline"],
    ["retrieve.retriever", "retrieve.spelling"],
    ["answer.reader", "answer.citations", "answer.chat", "answer.extractive", "answer.evaluation"],
    ["llm.client", "llm.prompts", "llm.grounding"],
    ["service"],
    ["serve.render", "serve.html"],
    ["serve.schemas", "serve.middleware"],
    ["serve.cli", "serve.api", "serve.ui"],
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def modules() -> dict[str, Path]:
    """Every module by its name under the package: "types", "serve.api" (packages' __init__ aside)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if path.stem not in ("__init__", "__main__"):
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """The package's modules that `path` imports, by the names `modules` gives them."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("assistant."):
            module = node.module.removeprefix("assistant.")
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # from assistant.serve import html
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("assistant.") for a in node.names if a.name.startswith("assistant."))
    return found & set(LEVEL)


def test_every_module_has_a_layer():
    assert set(modules()) <= set(LEVEL), f"add {sorted(set(modules()) - set(LEVEL))} to LAYERS"


def test_no_module_imports_a_higher_layer():
    upward = []
    for name, path in modules().items():
        if name in LEVEL:
            for target in imports(path):
                if LEVEL[target] > LEVEL[name]:
                    upward.append(f"{name} -> {target}")
    assert upward == []
