"""The package layout is the data flow: no import circle, and no stage imports a later one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "thumbsel"
README = PACKAGE.parents[1] / "README.md"

# The flow, bottom first. A module may import from its own layer's package
# and from layers below it, never from one above.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {"_core", "errors", "files", "timecode", "text", "arguments", "video", "exits", "memory"}
    ),
    frozenset({"columns"}),
    frozenset({"frames"}),
    frozenset({"decode"}),
    frozenset({"features"}),
    frozenset({"people"}),
    frozenset({"shots"}),
    frozenset({"analysis"}),
    frozenset({"segments"}),
    frozenset({"cast"}),
    frozenset({"select"}),
    frozenset({"artwork"}),
    frozenset({"outputs"}),
    frozenset({"pipeline"}),
    frozenset({"personalize", "catalog"}),
    frozenset({"serve"}),
    frozenset({"cli", "__main__"}),
)
# Beside the pipeline: personalisation reads the artwork tags' vocabulary and
# nothing else of it.
PERSONALIZE_MAY_USE = frozenset({"thumbsel.artwork.tags"})


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path) -> set[str]:
    """The thumbsel modules ``path`` imports (module level or inside functions)."""
    known = set(modules()) | {"thumbsel._core"}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from thumbsel.x import y` imports the module thumbsel.x.y when
            # there is one, else the names y of thumbsel.x.
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in known] or [node.module]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for rank, members in enumerate(LAYERS):
        if top in members:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to the README)")


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        if name != "thumbsel":
            layer(name)


def test_no_module_imports_from_a_later_stage() -> None:
    wrong = []
    for name, path in modules().items():
        if name == "thumbsel":
            continue  # the facade re-exports every stage
        for imported in imports_of(path):
            if imported == "thumbsel":
                wrong.append(f"{name} imports the package facade")
            elif layer(imported) > layer(name):
                wrong.append(f"{name} imports {imported}")
            elif (
                name.startswith("thumbsel.personalize")
                and layer(imported) > layer("thumbsel.video")
                and not imported.startswith("thumbsel.personalize")
                and imported not in PERSONALIZE_MAY_USE
            ):
                wrong.append(f"{name} (beside the pipeline) imports {imported}")
    assert not wrong, wrong


def test_no_import_circle() -> None:
    graph = {name: imports_of(path) - {name} for name, path in modules().items()}
    graph.pop("thumbsel")
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                pytest.fail(
                    "import circle: " + " -> ".join([*stack[stack.index(target) :], target])
                )
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_readme_layout_names_every_module() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    package = block.split("python/thumbsel", 1)[1].split("\ntests/", 1)[0]
    listed = set(re.findall(r"([a-z_]+\.py)\b", package))
    present = {path.name for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    assert listed == present, (sorted(present - listed), sorted(listed - present))


def test_no_test_imports_a_private_name() -> None:
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("thumbsel"):
                names = [node.module or "", *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("thumbsel")]
            else:
                continue
            for name in names:
                if any(part.startswith("_") and part != "__version__" for part in name.split(".")):
                    wrong.append(f"{path.relative_to(tests)}:{node.lineno} {name}")
    assert not wrong, wrong


def test_every_exception_is_defined_in_errors() -> None:
    elsewhere = []
    for name, path in modules().items():
        if name == "thumbsel.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception")))
                or (isinstance(base, ast.Attribute) and base.attr.endswith(("Error", "Exception")))
                for base in node.bases
            ):
                elsewhere.append(f"{name}.{node.name}")
    assert not elsewhere, elsewhere
