"""The rooms of ``services/`` and who may import whom, read from the source with ast.

Each room's ``__init__`` docstring says what it may import; this test holds
the code to it, so a lower layer that reaches up fails here. Each room's
``__init__`` is also its front door: ``__all__`` lists what other rooms may use,
and an import from another room names the room (``from services.store import
SyncPlan``), never one of its modules.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"

# room -> the rooms it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "store": {"base"},
    "sync": {"base", "store"},
    "reporting": {"base", "store"},
    "operations": {"base", "store", "sync", "reporting"},
    "scaffold": {"base", "store"},
    "follow": {"base", "store", "sync", "reporting"},
    "cli": {"base", "store", "sync", "reporting", "operations", "scaffold", "follow"},
    "console": {"base", "store", "sync", "reporting", "operations", "cli", "scaffold"},
}
# Top-level modules of services/ and the room they stand in for.
FRONT_DOORS = {"__init__": "base", "process_definition": "sync"}
# A room's sub-rooms (its packages) -> the sibling sub-rooms each may import, in layers:
# each only those below it (services/sync: rows < transform < read < write < backfill <
# run, as the data path goes). Every module of the room may import the room's own
# top-level modules (sync.route, sync.windows), which import none of its sub-rooms.
SUB_ROOMS: dict[str, dict[str, set[str]]] = {
    "sync": {
        "rows": set(),
        "transform": {"rows"},
        "read": {"rows", "transform"},
        "write": {"rows", "transform", "read"},
        "backfill": {"rows", "transform", "read", "write"},
        "run": {"rows", "transform", "read", "write", "backfill"},
    },
}


def room_of(module: str) -> str | None:
    """The room of a dotted ``services...`` name, or None for names outside services."""
    parts = module.split(".")
    if parts[0] != "services":
        return None
    if len(parts) == 1:
        return "base"  # ``from services import ExportDefinition`` re-exports base
    return FRONT_DOORS.get(parts[1], parts[1])


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, function-local ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(services_dir: Path) -> list[str]:
    """Every import in ``services_dir`` that crosses a room boundary the design forbids."""
    problems: list[str] = []
    for path in sorted(services_dir.rglob("*.py")):
        relative = path.relative_to(services_dir.parent).with_suffix("")
        own = room_of(".".join(relative.parts))
        assert own is not None
        for line, module in imported_modules(path):
            target = room_of(module)
            if target is None or target == own:
                continue
            if target not in ALLOWED.get(own, set()):
                problems.append(f"{relative}.py:{line}: {own} imports {module} ({target})")
    return problems


def door_of(module: str, services_dir: Path) -> str | None:
    """The front door a dotted ``services...`` name sits behind: its room (``sync``), or
    the room's sub-room when it is in one (``sync.read``); None outside services."""
    room = room_of(module)
    parts = module.split(".")
    if room is None or len(parts) < 3 or not (services_dir / room / parts[2]).is_dir():
        return room
    return f"{room}.{parts[2]}"


def front_door_problems(services_dir: Path) -> list[str]:
    """Every import in ``services_dir`` that reaches into another room past its front door:
    a module of the room instead of the room, or a name its ``__all__`` does not list.
    Inside a room, the same holds between its sub-rooms (``services.sync.read``)."""
    problems: list[str] = []
    for path in sorted(services_dir.rglob("*.py")):
        relative = path.relative_to(services_dir.parent).with_suffix("")
        own = room_of(".".join(relative.parts))
        own_door = door_of(".".join(relative.parts), services_dir)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            target = room_of(node.module)
            if target is None or node.module == "services":
                continue
            if target == own:
                target = door_of(node.module, services_dir) or target
                if own_door is not None and (own_door + ".").startswith(target + "."):
                    continue  # its own sub-room, or the room's own top-level modules
            where = f"{relative}.py:{node.lineno}"
            if node.module != f"services.{target}":
                problems.append(f"{where}: {node.module} is behind services.{target}'s front door")
                continue
            exported = front_door(services_dir.joinpath(*target.split(".")))
            for alias in node.names:
                if alias.name not in exported:
                    problems.append(f"{where}: services.{target} does not export {alias.name}")
    return problems


def front_door(room: Path) -> set[str]:
    """The names a room's ``__init__`` lists in ``__all__``."""
    for node in ast.parse((room / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and "__all__" in ast.unparse(node):
            assert node.value is not None
            return set(ast.literal_eval(node.value))
    return set()


def test_imports_across_rooms_go_through_the_front_doors() -> None:
    # `python -m tools.front_doors` rewrites such imports and opens the doors they need.
    assert front_door_problems(SERVICES) == []


def test_the_front_door_tool_leaves_a_clean_tree_as_it_is(tmp_path: Path) -> None:
    """`python -m tools.front_doors` is what test_layout's message sends people to: on a
    tree that passes it must change nothing (it once made the data path's
    ``process_definition`` lazy, where the module of that name would then answer)."""
    for part in ("services", "tools"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run([sys.executable, "-m", "tools.front_doors"], cwd=tmp_path, check=True)
    changed = [
        str(path.relative_to(tmp_path))
        for path in sorted((tmp_path / "services").rglob("*.py"))
        if path.read_text() != (ROOT / path.relative_to(tmp_path)).read_text()
    ]
    assert changed == []


def sub_room_names() -> list[str]:
    return [f"{room}.{sub}" for room, subs in SUB_ROOMS.items() for sub in subs]


@pytest.mark.parametrize("room", [*sorted(ALLOWED), *sub_room_names()])
def test_each_front_door_opens_on_what_it_lists(room: str) -> None:
    folder = SERVICES.joinpath(*room.split("."))
    exported = front_door(folder)
    package = importlib.import_module(f"services.{room}")
    assert sorted(exported) == sorted(package.__all__)
    modules = {name for name in exported if (folder / f"{name}.py").exists()}
    for name in modules:  # a module of the room, imported by ``from`` when asked for
        importlib.import_module(f"services.{room}.{name}")
    assert [name for name in exported if not hasattr(package, name)] == []
    # What mypy is shown (if TYPE_CHECKING) is what ``__getattr__`` finds (_HOMES).
    homes = getattr(package, "_HOMES", {})
    assert typed_imports(folder) == homes
    for name, home in homes.items():
        assert getattr(package, name) is getattr(importlib.import_module(home), name)


def typed_imports(room: Path) -> dict[str, str]:
    """name -> module of the imports under a room's ``if TYPE_CHECKING``."""
    found: dict[str, str] = {}
    for node in ast.parse((room / "__init__.py").read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for inner in node.body:
                assert isinstance(inner, ast.ImportFrom) and inner.module
                found.update((alias.name, inner.module) for alias in inner.names)
    return found


def test_a_reach_past_the_front_door_is_caught(tmp_path: Path) -> None:
    fake = tmp_path / "services"
    for room in ("base", "store"):
        (fake / room).mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "base" / "__init__.py").write_text('"""Nothing."""\n__all__ = ["Position"]\n')
    (fake / "store" / "__init__.py").write_text('"""May import base."""\n')
    (fake / "store" / "plan.py").write_text(
        "from services.base.position import Position\nfrom services.base import Hidden\n"
    )
    assert front_door_problems(fake) == [
        "services/store/plan.py:1: services.base.position is behind services.base's front door",
        "services/store/plan.py:2: services.base does not export Hidden",
    ]


def test_a_reach_past_a_sub_rooms_front_door_is_caught(tmp_path: Path) -> None:
    fake = tmp_path / "services"
    for folder in ("sync/read", "sync/write"):
        (fake / folder).mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "sync" / "__init__.py").write_text('"""May import nothing."""\n__all__ = []\n')
    (fake / "sync" / "route.py").write_text("")
    (fake / "sync" / "read" / "__init__.py").write_text('"""Reads."""\n__all__ = ["Batch"]\n')
    (fake / "sync" / "read" / "prefetch.py").write_text("from services.sync.route import Route\n")
    (fake / "sync" / "write" / "__init__.py").write_text('"""Writes."""\n__all__ = []\n')
    (fake / "sync" / "write" / "writer.py").write_text(
        "from services.sync.read.sources import Batch\n"
        "from services.sync.read import Batch, Hidden\n"
        "from services.sync.write.staging import Staging\n"
    )
    assert front_door_problems(fake) == [
        "services/sync/write/writer.py:1: services.sync.read.sources is behind "
        "services.sync.read's front door",
        "services/sync/write/writer.py:2: services.sync.read does not export Hidden",
    ]


def sub_room_problems(services_dir: Path) -> list[str]:
    """Every import from one sub-room of a room into a sibling its rule does not allow."""
    problems: list[str] = []
    for room, subs in SUB_ROOMS.items():
        for sub, allowed in subs.items():
            for path in sorted((services_dir / room / sub).rglob("*.py")):
                for line, module in imported_modules(path):
                    target = door_of(module, services_dir) or ""
                    sibling = target.removeprefix(f"{room}.")
                    if target.startswith(f"{room}.") and sibling not in {sub, *allowed}:
                        where = f"{path.relative_to(services_dir.parent)}:{line}"
                        problems.append(f"{where}: {room}.{sub} imports {module}")
    return problems


def test_sub_rooms_import_only_the_siblings_they_may() -> None:
    assert sub_room_problems(SERVICES) == []
    found = {p.name for p in (SERVICES / "sync").iterdir() if (p / "__init__.py").exists()}
    assert found == set(SUB_ROOMS["sync"])


def test_the_sub_room_rules_have_no_loop() -> None:
    for subs in SUB_ROOMS.values():
        below: dict[str, set[str]] = {}
        for sub in sorted(subs, key=lambda s: len(subs[s])):
            assert subs[sub] <= set(below), f"{sub} may import {subs[sub] - set(below)} above it"
            below[sub] = subs[sub]


def top_level_problems(services_dir: Path) -> list[str]:
    """Imports of a sub-room from a room's own top-level modules (sync.route, sync.windows):
    every sub-room stands on them, so they stand on none."""
    problems: list[str] = []
    for room, subs in SUB_ROOMS.items():
        for path in sorted((services_dir / room).glob("*.py")):
            if path.name == "__init__.py":  # the room's front door re-exports them
                continue
            for line, module in imported_modules(path):
                if (door_of(module, services_dir) or "").removeprefix(f"{room}.") in subs:
                    where = f"{path.relative_to(services_dir.parent)}:{line}"
                    problems.append(f"{where}: imports {module}")
    return problems


def test_a_rooms_top_level_modules_import_none_of_its_sub_rooms(tmp_path: Path) -> None:
    assert top_level_problems(SERVICES) == []
    fake = tmp_path / "services" / "sync"
    (fake / "write").mkdir(parents=True)
    (fake / "route.py").write_text("def f() -> None:\n    from services.sync.write import X\n")
    assert top_level_problems(tmp_path / "services") == [
        "services/sync/route.py:2: imports services.sync.write"
    ]


def test_a_sub_room_importing_a_sibling_it_may_not_is_caught(tmp_path: Path) -> None:
    fake = tmp_path / "services"
    for sub in SUB_ROOMS["sync"]:
        (fake / "sync" / sub).mkdir(parents=True)
    (fake / "sync" / "read" / "keyset.py").write_text("from services.sync.run import Run\n")
    assert sub_room_problems(fake) == [
        "services/sync/read/keyset.py:1: sync.read imports services.sync.run"
    ]


def import_cycles(services_dir: Path) -> list[list[str]]:
    """Modules that import each other, round a loop, by their own module paths (function-
    local imports included): each loop once, as the modules in it, sorted."""
    graph: dict[str, set[str]] = {}
    for path in services_dir.rglob("*.py"):
        module = ".".join(path.relative_to(services_dir.parent).with_suffix("").parts)
        graph[module] = {m for _, m in imported_modules(path) if m.count(".") >= 2}
    loops: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, trail: list[str]) -> None:
        for target in graph.get(node, set()):
            if target == start:
                loops.add(tuple(sorted(trail)))
            elif target not in trail and target > start:  # each loop from its least module
                walk(start, target, [*trail, target])

    for module in graph:
        walk(module, module, [module])
    return [list(loop) for loop in sorted(loops)]


def test_no_two_modules_import_each_other() -> None:
    assert import_cycles(SERVICES) == []


def test_an_import_cycle_is_caught(tmp_path: Path) -> None:
    room = tmp_path / "services" / "sync"
    room.mkdir(parents=True)
    (room / "batch.py").write_text("def f() -> None:\n    from services.sync.deletes import g\n")
    (room / "deletes.py").write_text("from services.sync.batch import f\n")
    assert import_cycles(tmp_path / "services") == [
        ["services.sync.batch", "services.sync.deletes"]
    ]


def test_tools_stay_out_of_the_product() -> None:
    """tools/ (benchmarks, the demo, the embedded server) is not shipped, and nothing that
    is shipped imports it."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not [p for p in packages["packages"] if p.split(".")[0] == "tools"]
    shipped = [*SERVICES.rglob("*.py"), *(ROOT / "jobs").rglob("*.py"), ROOT / "run_job.py"]
    assert [
        f"{path.relative_to(ROOT)}:{line}"
        for path in shipped
        for line, module in imported_modules(path)
        if module.split(".")[0] == "tools"
    ] == []


# Where the runner's own tables (RUNNER_SCHEMA) may be named in SQL: store/, and the
# positions beside the Position type (services/store/__init__.py says why).
RUNNER_TABLES_HOMES = ("services/store/", "services/base/position.py")
_SQL_TEXT = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE|ALTER|DROP|TRUNCATE)\b")
_CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def sql_rule_breaks(services_dir: Path) -> list[str]:
    """Runner tables named outside their homes, and SQL text formatted from anything but a
    module constant (an f-string, ``%`` or ``str.format`` handed to ``execute``)."""
    breaks: list[str] = []
    for path in sorted(services_dir.rglob("*.py")):
        where = path.relative_to(services_dir.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            first = node.args[0] if node.args else None
            runner = isinstance(first, ast.Name) and first.id == "RUNNER_SCHEMA"
            runner |= isinstance(first, ast.Constant) and first.value == "tablesync"
            if (
                name in ("Identifier", "ident")
                and runner
                and not where.startswith(RUNNER_TABLES_HOMES)
            ):
                breaks.append(f"{where}:{node.lineno} names a runner table")
            if name in ("execute", "executemany", "copy") and _formatted_sql(first):
                breaks.append(f"{where}:{node.lineno} formats SQL text")
    return breaks


def _formatted_sql(node: ast.expr | None) -> bool:
    """Whether ``node`` formats SQL text with something other than module constants."""
    if isinstance(node, ast.JoinedStr):
        text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        parts = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        named = all(isinstance(p, ast.Name) and _CONSTANT.match(p.id) for p in parts)
        return bool(_SQL_TEXT.search(text)) and not named
    if isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant):
        return bool(_SQL_TEXT.search(str(node.left.value)))  # "..." % x, "..." + x
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        target = node.func.value
        text = str(target.value) if isinstance(target, ast.Constant) else ""
        return node.func.attr == "format" and bool(_SQL_TEXT.search(text))
    return False


def test_sql_is_composed_where_store_says() -> None:
    assert sql_rule_breaks(SERVICES) == []


def test_a_break_of_the_sql_rule_is_caught(tmp_path: Path) -> None:
    room = tmp_path / "services" / "reporting"
    room.mkdir(parents=True)
    (room / "status.py").write_text(
        "from psycopg import sql\n"
        "from services.base import RUNNER_SCHEMA\n"
        "RUNS = sql.Identifier(RUNNER_SCHEMA, 'runs')\n"
        "def last(conn, table, job):\n"
        "    conn.execute(f'SELECT * FROM {table} WHERE job = %s', (job,))\n"
        "    conn.execute('SELECT * FROM %s' % table)\n"
        "    conn.execute(f'SELECT pg_advisory_unlock({_KEY})')\n"
    )
    assert sql_rule_breaks(tmp_path / "services") == [
        "services/reporting/status.py:3 names a runner table",
        "services/reporting/status.py:5 formats SQL text",
        "services/reporting/status.py:6 formats SQL text",
    ]


def test_every_room_is_known_and_says_what_it_may_import() -> None:
    rooms = {p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists()}
    assert rooms <= set(ALLOWED), f"rooms without a rule: {rooms - set(ALLOWED)}"
    for room in [*rooms, *(r.replace(".", "/") for r in sub_room_names())]:
        doc = ast.get_docstring(ast.parse((SERVICES / room / "__init__.py").read_text()))
        assert doc and "import" in doc, f"services/{room}/__init__.py must say what it may import"


def test_top_level_of_services_holds_only_the_front_doors() -> None:
    modules = {p.stem for p in SERVICES.glob("*.py")}
    assert modules == set(FRONT_DOORS)


def test_no_room_imports_a_room_above_it() -> None:
    assert violations(SERVICES) == []


@pytest.mark.parametrize(
    ("room", "upward"),
    [
        ("base", "services.store.plan"),
        ("store", "services.sync.batch"),
        ("sync", "services.reporting.report"),
        ("reporting", "services.sync.batch"),
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, room: str, upward: str) -> None:
    fake = tmp_path / "services"
    (fake / room).mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / room / "__init__.py").write_text('"""May import nothing."""\n')
    (fake / room / "leaky.py").write_text(f"def f() -> None:\n    import {upward}\n")
    assert violations(fake) == [
        f"services/{room}/leaky.py:2: {room} imports {upward} ({upward.split('.')[1]})"
    ]


def test_a_run_imports_no_library_it_does_not_use() -> None:
    """A run's start-up is part of every run's time (a run that finds nothing is mostly
    start-up): croniter and dateutil (a cron schedule), difflib (did you mean) come in only
    when asked for."""
    code = (
        "import sys, services, jobs.export_to_pg.config;"
        "from services.sync import process_definition;"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'croniter', 'dateutil', 'difflib'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def result_users(sync_dir: Path) -> list[str]:
    """Modules of the data path outside its run room that import RunResult."""
    found: list[str] = []
    for path in sorted(sync_dir.rglob("*.py")):
        if "run" in path.relative_to(sync_dir).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and "RunResult" in {a.name for a in node.names}:
                found.append(str(path.relative_to(sync_dir)))
    return found


def test_only_the_run_writes_the_run_result() -> None:
    """Readers, writers and batch loops return what they did (services/sync/write/
    committed.py); the run room alone puts it on the run's result."""
    assert result_users(SERVICES / "sync") == []
