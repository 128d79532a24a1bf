"""Data flows one way: a module never imports one from a higher pipeline stage, and none imports in a circle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

# Bottom to top, as in the README's picture: each line is a stage (a folder) or a step within one.
# Modules on one line may import each other (but never in a circle, see test_imports) and any line below.
LAYERS = [
    ["types", "errors", "config", "limits"],
    ["text.terms", "text.sentences", "text.opposites", "text.entities"],
    ["ingest.fetch", "ingest.markdown", "ingest.parsers", "ingest.sources", "ingest.feeds", "ingest.chunking",
     "embed.base", "embed.onnx", "embed.torch", "embed.llama", "embed.factory"],
    ["store.format", "store.durable", "store.keyword", "store.vector_index", "store.segments", "store.entities",
     "store.catalog",
     "store.vectors", "store.merge", "store.milvus", "store.directory", "store.feedback",
     "store.sources", "store.access", "store.sidecar"],
    ["ingest.indexer", "ingest.ray_pipeline", "ingest.sync"],
    ["retrieve.retriever", "retrieve.spelling"],
    ["answer.reader", "answer.citations", "answer.chat", "answer.candidates", "answer.decision", "answer.definition",
     "answer.profile",
     "answer.extractive", "answer.evaluation"],
    ["llm.client", "llm.prompts", "llm.markup", "llm.grounding"],
    ["service"],
    ["serve.render", "serve.html"],
    ["serve.schemas", "serve.middleware", "serve.gradio_guard", "serve.access"],
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


def test_no_modules_import_each_other_in_a_circle():
    """Imports inside functions and under TYPE_CHECKING count too: a circle is a circle."""
    graph = {name: imports(path) - {name} for name, path in modules().items()}
    circles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert circles == [], f"modules importing each other in a circle: {circles}"


def test_no_script_folder_module_shadows_the_standard_library():
    """bench/, scripts/ and tests/ run with their own folder first on sys.path: a `profile.py` there
    is what `import cProfile` (inside torch) then imports."""
    import sys

    folders = [PACKAGE.parent / name for name in ("bench", "scripts", "tests")]
    shadowing = [f"{p.parent.name}/{p.name}" for folder in folders for p in folder.glob("*.py")
                 if p.stem in sys.stdlib_module_names]
    assert shadowing == []
