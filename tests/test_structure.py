"""The shape of app/ and workers/, read from the source like a linter (nothing is imported).

Layer order (from the `layers` block of docs/architecture.md), no import circle, no import
inside a function, no module over 300 lines, every third-party import pinned in
requirements.txt, and no file citing a document outside the repository.
"""
import ast
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("app", "workers")
MAX_LINES = 300
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "instance", "node_modules", ".pytest_cache"}
# Written in pieces so that this file does not match itself.
OUTSIDE_REFERENCES = [re.compile(r"\bS" + r"PEC\b"), re.compile(r"\.\./" + "shared"),
                      re.compile("/" + r"work/"), re.compile("RENO" + "VATION")]


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # module imported: a local module name, or a top-level third-party name
    line: int
    in_function: bool
    local: bool


def rel(path: str, root: str = ROOT) -> str:
    return os.path.relpath(path, root)


def find_modules(root: str = ROOT) -> dict[str, str]:
    """Module name -> file path for every module of app/ and workers/."""
    found = {}
    for package in PACKAGES:
        for directory, dirs, files in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in files:
                if name.endswith(".py"):
                    parts = rel(os.path.join(directory, name), root)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts.pop()
                    found[".".join(parts)] = os.path.join(directory, name)
    return found


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def import_nodes(node: ast.AST, in_function: bool = False):
    """Every import statement under node, and whether a function holds it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        yield from import_nodes(child, in_function or isinstance(child, FUNCTIONS))


def imports_of(module: str, path: str, modules: dict[str, str]) -> list[Import]:
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    result = []
    for node, in_function in import_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in dict.fromkeys(names):
            local = name.split(".")[0] in PACKAGES
            if local:
                while name not in modules and "." in name:
                    name = name.rpartition(".")[0]
            result.append(Import(module, name if local else name.split(".")[0], node.lineno, in_function, local))
    return result


@lru_cache(maxsize=None)
def project() -> tuple[dict[str, str], tuple[Import, ...]]:
    modules = find_modules()
    return modules, tuple(i for name, path in modules.items() for i in imports_of(name, path, modules))


def where(item: Import, modules: dict[str, str]) -> str:
    return f"{rel(modules[item.source])}:{item.line}"


# --- layers ------------------------------------------------------------------------------------

def read_layers(path: str = os.path.join(ROOT, "docs", "architecture.md")) -> list[tuple[str, list[str]]]:
    with open(path, encoding="utf-8") as handle:
        block = re.search(r"^```layers\n(.*?)^```", handle.read(), re.S | re.M)
    assert block, f"{rel(path)}: no ```layers block"
    layers = []
    for line in block.group(1).splitlines():
        if line.strip():
            name, _, entries = line.partition(":")
            layers.append((name.strip(), entries.split()))
    return layers


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> tuple[int, str] | None:
    """(index, name) of the layer whose most specific entry names the module."""
    best = None
    for index, (name, entries) in enumerate(layers):
        for entry in entries:
            base, star = (entry[:-2], True) if entry.endswith(".*") else (entry, False)
            if module == base or (star and module.startswith(base + ".")):
                rank = (len(base), not star)
                if best is None or rank > best[0]:
                    best = (rank, index, name)
    return best and best[1:]


def layer_violations(modules: dict[str, str], imports, layers) -> list[str]:
    problems = [f"{rel(path)}:1: layer order: {name} is in no layer of docs/architecture.md"
                for name, path in modules.items() if layer_of(name, layers) is None]
    for item in imports:
        if item.local and item.target in modules:
            source, target = layer_of(item.source, layers), layer_of(item.target, layers)
            if source and target and target[0] > source[0]:
                problems.append(f"{where(item, modules)}: layer order: {item.source} ({source[1]}) imports "
                                f"{item.target} ({target[1]}), a higher layer")
    return problems


# --- circles -----------------------------------------------------------------------------------

def circles(modules: dict[str, str], imports) -> list[str]:
    edges: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for item in imports:
        if item.local and item.target in modules:
            edges[item.source].setdefault(item.target, item)
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while not group or node not in group:
                group.add(stack.pop())
            on_stack.difference_update(group)
            if len(group) > 1 or node in edges[node]:
                groups.append(group)

    for name in sorted(modules):
        if name not in index:
            connect(name)
    problems = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:  # the shortest way from start back to itself inside the group
            node = queue.pop(0)
            for nxt in sorted(edges[node]):
                if nxt == start:
                    cycle = paths[node] + [start]
                    queue = []
                    break
                if nxt in group and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    queue.append(nxt)
        hops = ", ".join(f"{a} imports {b} at {where(edges[a][b], modules)}" for a, b in zip(cycle, cycle[1:]))
        problems.append(f"{where(edges[cycle[0]][cycle[1]], modules)}: import circle: {' -> '.join(cycle)} ({hops})")
    return problems


# --- the other rules ---------------------------------------------------------------------------

def late_imports(modules: dict[str, str], imports) -> list[str]:
    return [f"{where(item, modules)}: import inside a function: {item.target}" for item in imports
            if item.in_function and not modules[item.source].endswith("__init__.py")]


def long_modules(modules: dict[str, str]) -> list[str]:
    counts = {path: len(Path(path).read_bytes().splitlines()) for path in modules.values()}
    return [f"{rel(path)}:{MAX_LINES + 1}: module over {MAX_LINES} lines ({count})"
            for path, count in counts.items() if count > MAX_LINES]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(path: str = os.path.join(ROOT, "requirements.txt")) -> set[str]:
    with open(path, encoding="utf-8") as handle:
        lines = [line.split("#")[0].strip() for line in handle]
    return {canonical(match.group(1)) for line in lines
            if (match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==\S+$", line))}


def unpinned(modules: dict[str, str], imports, pins: set[str]) -> list[str]:
    providers = metadata.packages_distributions()
    local = {name.removesuffix(".py") for name in os.listdir(ROOT)}  # config, scripts, tests...
    ignored = set(sys.stdlib_module_names) | local | {"__future__"}
    problems = []
    for item in imports:
        if not item.local and item.target not in ignored:
            dists = providers.get(item.target, [item.target])
            if not any(canonical(dist) in pins for dist in dists):
                problems.append(f"{where(item, modules)}: unpinned dependency: {item.target} "
                                f"({' or '.join(dists)}) is not pinned with == in requirements.txt")
    return problems


def repository_files(root: str = ROOT):
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if name != ".git" and not name.endswith((".pyc", ".db", ".key")):
                yield os.path.join(directory, name)


def outside_references(root: str = ROOT) -> list[str]:
    problems = []
    for path in repository_files(root):
        with open(path, "rb") as handle:
            data = handle.read(1_000_000)
        if b"\0" in data:
            continue
        problems += [f"{rel(path, root)}:{number}: cites a document outside the repository: {line.strip()[:100]}"
                     for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1)
                     if any(pattern.search(line) for pattern in OUTSIDE_REFERENCES)]
    return problems


def _report(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} problem(s):\n" + "\n".join(problems), pytrace=False)


def test_layer_block_matches_the_packages():
    names = [name for name, _ in read_layers()]
    assert names[0] == "extensions" and names[-1] == "top" and len(names) == len(set(names)) == 12


def test_the_checks_find_what_they_guard(tmp_path):
    files = {"app/__init__.py": "def create():\n    from . import models\n",
             "app/errors.py": "from .models import Row\n",
             "app/models/__init__.py": "from app import errors\nimport flask\n",
             "workers/__init__.py": "def run():\n    import app.errors\n"}
    for name, text in files.items():
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = find_modules(str(tmp_path))
    imports = [i for name, path in modules.items() for i in imports_of(name, path, modules)]
    assert {(i.source, i.target, i.in_function) for i in imports} == {
        ("app", "app.models", True), ("app.errors", "app.models", False), ("app.models", "app.errors", False),
        ("app.models", "flask", False), ("workers", "app.errors", True)}
    layers = [("core", ["app.errors"]), ("models", ["app.models.*"]), ("top", ["app", "workers.*"])]
    assert [p.split(": ")[1] for p in layer_violations(modules, imports, layers)] == ["layer order"]
    assert len(circles(modules, imports)) == 1
    assert late_imports(modules, imports) == []  # both are in package __init__ files
    assert unpinned(modules, imports, {"flask"}) == []


def test_imports_follow_the_layer_order():
    modules, imports = project()
    _report(layer_violations(modules, imports, read_layers()))


def test_no_import_circle():
    _report(circles(*project()))


def test_no_import_inside_a_function():
    _report(late_imports(*project()))


def test_no_module_over_300_lines():
    _report(long_modules(project()[0]))


def test_every_third_party_import_is_pinned():
    modules, imports = project()
    _report(unpinned(modules, imports, pinned()))


def test_no_file_cites_a_document_outside_the_repository():
    _report(outside_references())
