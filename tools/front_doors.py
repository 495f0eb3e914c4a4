"""Rewrite every cross-room import under services/ to go through the room's package, and
write each room's __init__ to re-export exactly what other rooms import (with __all__).

Run from the repo root (``python -m tools.front_doors``) when tests/test_layout.py
finds an import that reaches past a front door; idempotent.
"""

from __future__ import annotations

import ast
import collections
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(".")
SERVICES = ROOT / "services"
TOP = {"__init__": "base", "process_definition": "sync"}
MODULE = "<module>"


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "services":
        return None
    if len(parts) == 1:
        return "base"
    return TOP.get(parts[1], parts[1])


def own_room(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("").parts
    return room_of(".".join(rel)) or ""


def existing_exports(room: str) -> dict[str, str]:
    """name -> defining module, from the room's current __init__ (a rerun keeps them)."""
    init = SERVICES / room / "__init__.py"
    found: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If):
            node.body = [n for n in node.body if isinstance(n, ast.ImportFrom)]
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith(f"services.{room}")
        ):
            for alias in node.names:
                module_export = node.module == f"services.{room}"
                found[alias.asname or alias.name] = MODULE if module_export else node.module
        if isinstance(node, ast.If):  # if TYPE_CHECKING: the lazy ones
            for inner in node.body:
                if (
                    isinstance(inner, ast.ImportFrom)
                    and inner.module
                    and inner.module.startswith(f"services.{room}")
                ):
                    for alias in inner.names:
                        found[alias.name] = inner.module
    return found


def main() -> None:
    rooms = sorted(p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists())
    exports: dict[str, dict[str, str]] = {room: existing_exports(room) for room in rooms}
    edits: dict[pathlib.Path, list[tuple[ast.ImportFrom, str]]] = collections.defaultdict(list)
    for path in sorted(SERVICES.rglob("*.py")):
        if path.name == "__init__.py" and path.parent != SERVICES:
            continue
        own = own_room(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            target = room_of(node.module)
            if target is None or target == own:
                continue
            parts = node.module.split(".")
            if node.module in ("services", f"services.{target}"):
                for alias in node.names:  # already through the door: make sure it is open
                    if alias.name in exports[target] or alias.name == "lazy_exports":
                        continue
                    if (SERVICES / target / f"{alias.name}.py").exists():
                        exports[target][alias.name] = MODULE
                    elif node.module != "services":
                        sys.exit(f"{path}: {alias.name} is not exported by {target}")
                continue
            if len(parts) != 3:
                print("skip", path, node.module, file=sys.stderr)
                continue
            for alias in node.names:
                previous = exports[target].get(alias.name)
                if previous is not None and previous != node.module:
                    sys.exit(f"{alias.name}: {previous} and {node.module} in {target}")
                exports[target][alias.name] = node.module
            names = ", ".join(
                a.name if a.asname is None else f"{a.name} as {a.asname}" for a in node.names
            )
            edits[path].append((node, f"from services.{target} import {names}"))
    for path, changes in edits.items():
        lines = path.read_text().splitlines(keepends=True)
        for node, text in sorted(changes, key=lambda c: -c[0].lineno):
            indent = " " * node.col_offset
            start, end = node.lineno - 1, (node.end_lineno or node.lineno)
            tail = lines[end - 1].rstrip("\n")
            comment = ""
            if "#" in tail.split(")")[-1]:
                comment = "  #" + tail.split(")")[-1].split("#", 1)[1]
            lines[start:end] = [f"{indent}{text}{comment}\n"]
        path.write_text("".join(lines))
    for room in rooms:
        write_init(room, exports[room])
    # Imports merged and sorted, lines wrapped, as `make fmt` would.
    ruff = pathlib.Path(sys.executable).parent / "ruff"
    subprocess.run([ruff, "check", "--fix", "--quiet", "services"], check=False)
    subprocess.run([ruff, "format", "--quiet", "services"], check=True)


def write_init(room: str, names: dict[str, str]) -> None:
    init = SERVICES / room / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree, clean=False) or ""
    if room == "base":  # every room's __init__ uses it: bound here, not lazily
        names = {**names, "lazy_exports": "services.base.front_door"}
    homes = {n: m for n, m in names.items() if m != MODULE}
    # A name a module of the room shares, at any depth (redact, dry_run,
    # run/process_definition): bound here, or the submodule would answer once imported.
    modules = {path.stem for path in (SERVICES / room).rglob("*.py")}
    eager = {n: m for n, m in homes.items() if n in modules or n == "lazy_exports"}
    lazy = {n: m for n, m in homes.items() if n not in eager}
    body = [f'"""{doc}"""', "", "from __future__ import annotations", ""]
    if not names:
        body.append("__all__: list[str] = []  # nothing outside this room imports it")
        init.write_text("\n".join(body) + "\n")
        return
    if lazy:
        body.append("from typing import TYPE_CHECKING")
        body.append("")
        if room != "base":  # base binds it below, with its other eager names
            body.append("from services.base import lazy_exports")
    for module in sorted(set(eager.values())):
        shown = ", ".join(
            f"{n} as {n}" if n != "lazy_exports" else n for n in sorted(eager) if eager[n] == module
        )
        body.append(f"from {module} import {shown}")
    if lazy:
        body.append("")
        body.append("if TYPE_CHECKING:")
        for module in sorted(set(lazy.values())):
            shown = ", ".join(sorted(n for n in lazy if lazy[n] == module))
            body.append(f"    from {module} import {shown}")
    body.append("")
    body.append("__all__ = [")
    body.extend(f'    "{name}",' for name in sorted(names))
    body.append("]")
    if lazy:
        body.append("_HOMES = {")
        body.extend(f'    "{n}": "{lazy[n]}",' for n in sorted(lazy))
        body.append("}")
        body.append("__getattr__ = lazy_exports(__name__, _HOMES)")
    init.write_text("\n".join(body) + "\n")


if __name__ == "__main__":
    main()
