"""Data flows one way: a module never imports one from a higher pipeline stage."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

# Bottom to top, as in the README's picture. Modules on one line may import each other's
# lower neighbours only.
LAYERS = [
    ["types", "errors", "config"],
    ["sources", "terms"],
    ["chunking", "embedding", "onnx_embedding", "vector_index", "keyword", "reader", "feedback"],
    ["store", "milvus_vectors"],
    ["indexer", "ray_ingest"],
    ["retrieval"],
    ["answering", "chat", "prompts", "llm", "grounding"],
    ["evaluation", "service"],
    ["render", "web", "limits"],
    ["cli", "api", "ui"],
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("assistant."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("assistant."))
    return found


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(LEVEL), f"add {sorted(modules - set(LEVEL))} to LAYERS"


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in PACKAGE.glob("*.py"):
        if path.stem in LEVEL:
            for target in imports(path):
                if LEVEL.get(target, -1) > LEVEL[path.stem]:
                    upward.append(f"{path.stem} -> {target}")
    assert upward == []
