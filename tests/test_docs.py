"""The documentation stays true: the README is a short front door whose every command
exists, the site under docs/ builds with no broken link, and the pages that describe
the code (the code map, every variable, every definition field, the tests behind
each guarantee) match it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from dbtools import REPO_ROOT
from pydantic import BaseModel

from services.base.definition import (
    CursorSpec,
    DestinationSpec,
    ExportDefinition,
    SoftDeleteSpec,
    SourceSpec,
)
from services.scaffold import CURSOR_NAMES

SERVICES = REPO_ROOT / "services"
DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
README_MAX_LINES = 250


def section(page: Path, heading: str) -> str:
    """The text of ``heading`` (a ``## `` line) in ``page``, up to the next ``## ``."""
    text = page.read_text()
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table_first_column(text: str) -> list[str]:
    """The backticked names in the first column of a Markdown table's body rows."""
    return re.findall(r"^\| `([^`]+)` \|", text, re.MULTILINE)


# -- the README: a front door ------------------------------------------------------


def test_the_readme_is_a_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def readme_commands() -> list[str]:
    """Every command line the README's code blocks show (comments stripped)."""
    blocks = re.findall(r"```\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env, check=False
    )


def options(words: list[str]) -> list[str]:
    """The long options a command line uses (``--dir``, ``--database``), without values."""
    return [w.split("=")[0] for w in words if w.startswith("--")]


def run_job_commands() -> list[list[str]]:
    """Each ``python run_job.py ...`` the README shows, from the word after run_job.py."""
    found = []
    for line in readme_commands():
        words = shlex.split(line)
        for i, word in enumerate(words):
            if word.endswith("run_job.py"):
                found.append(words[i + 1 :])
    return found


def commands_of_run_job() -> set[str]:
    """The commands `python run_job.py --help` lists (the jobs, serve, scaffold, ...)."""
    out = run([sys.executable, "run_job.py", "--help"]).stdout
    listed = out.split("Commands:", 1)[1]
    return set(re.findall(r"^  (\S+)", listed, re.MULTILINE))


@pytest.mark.parametrize("words", run_job_commands(), ids=" ".join)
def test_every_run_job_command_in_the_readme_exists(words: list[str]) -> None:
    command = words[0]
    assert command in commands_of_run_job(), f"python run_job.py --help lists no {command}"
    shown = run([sys.executable, "run_job.py", command, "--help"])
    assert shown.returncode == 0, f"run_job.py {command} --help: {shown.stderr}"
    for option in options(words):
        assert option in shown.stdout, f"run_job.py {command} has no {option}"


def test_the_readme_shows_the_commands_it_must() -> None:
    shown = {words[0] for words in run_job_commands() if words}
    assert {"export-to-pg", "serve", "scaffold"} <= shown
    assert len(run_job_commands()) >= 10


def test_every_make_target_in_the_readme_exists() -> None:
    targets = [line.split()[1] for line in readme_commands() if line.startswith("make ")]
    assert {"demo", "test", "install"} <= set(targets)
    listed = run(["make", "-s", "help"]).stdout
    for target in targets:
        assert re.search(rf"^  {re.escape(target)}\s", listed, re.MULTILINE), f"make {target}"


def test_every_other_tool_in_the_readme_exists() -> None:
    lines = [shlex.split(line) for line in readme_commands()]
    embedded = [w for w in lines if w[:3] == ["python", "-m", "tools.testdb.embedded_pg"]]
    dbmate = [w for w in lines if w[0] == "dbmate"]
    assert embedded and dbmate
    helped = run([sys.executable, "-m", "tools.testdb.embedded_pg", "--help"])
    for words in embedded:
        assert words[3] in helped.stdout
        assert all(o in helped.stdout for o in options(words)), words
    dbmate_help = run([str(Path(sys.executable).parent / "dbmate"), "--help"]).stdout
    for words in dbmate:
        assert all(o in dbmate_help for o in options(words)), words
        assert re.search(rf"^   {words[-1]}\s", dbmate_help, re.MULTILINE), words


def test_every_file_the_readme_links_exists() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10
    for link in local:
        assert (REPO_ROOT / link).exists(), link
    for path in re.findall(r"`((?:db|jobs|docs)/[\w./-]+)`", README.read_text()):
        assert (REPO_ROOT / path).exists(), path


# -- the site --------------------------------------------------------------------


def test_the_site_builds_with_no_broken_link(tmp_path: Path) -> None:
    built = run(
        [
            str(Path(sys.executable).parent / "mkdocs"),
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path / "site"),
        ]
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "guarantees" / "index.html").exists()


# -- the pages that describe the code --------------------------------------------


def layout_section() -> str:
    return section(DOCS / "architecture.md", "How the code is laid out")


def rooms() -> set[str]:
    return {p.parent.name for p in SERVICES.glob("*/__init__.py")}


def sub_rooms() -> set[str]:
    """``sync/read`` and the like: the packages inside a room."""
    return {str(p.parent.relative_to(SERVICES)) for p in SERVICES.glob("*/*/__init__.py")}


def test_every_room_has_its_line_and_every_line_a_room() -> None:
    named = set(re.findall(r"^- `services/(\w+)`", layout_section(), re.MULTILINE))
    assert named == rooms()
    nested = set(re.findall(r"^ *- `services/(\w+/\w+)`", layout_section(), re.MULTILINE))
    assert nested == sub_rooms()


def test_every_module_the_code_map_names_exists() -> None:
    text = layout_section() + section(
        DOCS / "architecture.md", "One run, from `run_job.py` to the commit"
    )
    dotted = set(re.findall(r"`(\w+(?:\.\w+)+)`", text))
    assert dotted, "the pages name no room.module"
    for name in dotted:
        if name.split(".")[0] in rooms():
            where = SERVICES.joinpath(*name.split("."))
            assert where.with_suffix(".py").exists() or (where / "__init__.py").exists(), name
    for path in re.findall(r"`((?:jobs|services)/[\w/]+\.py|run_job\.py)`", text):
        assert (REPO_ROOT / path).exists(), path


def test_the_modules_named_on_a_rooms_line_are_in_that_room() -> None:
    lines = re.findall(r"^ *- `services/(\w+(?:/\w+)?)`(.*)$", layout_section(), re.MULTILINE)
    assert {room for room, _ in lines} == rooms() | sub_rooms()
    for room, rest in lines:
        for module in re.findall(r"`(\w+)`", rest):
            # a module of the room (`route`), or one of its sub-rooms (`read`)
            inside = SERVICES / room
            found = (inside / f"{module}.py").exists() or (inside / module / "__init__.py").exists()
            assert found, f"{room}: {module}"


def variables_the_code_reads() -> set[str]:
    """Every environment variable named as a string in the engine's code."""
    pattern = re.compile(
        r"""["'](TABLESYNC_[A-Z_]+|SLACK_[A-Z_]+|DATABASE_URL_[A-Z]+|LOG_FORMAT)["']"""
    )
    sources = [
        *SERVICES.rglob("*.py"),
        *(REPO_ROOT / "jobs").rglob("*.py"),
        REPO_ROOT / "run_job.py",
    ]
    return {name for path in sources for name in pattern.findall(path.read_text())}


def configuration_table() -> dict[str, str]:
    """variable -> default, from docs/configuration.md's table."""
    text = section(DOCS / "configuration.md", "Every variable")
    return dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", text, re.MULTILINE))


def test_the_configuration_table_lists_every_variable_the_code_reads() -> None:
    documented = set(configuration_table())
    read = variables_the_code_reads()
    assert len(read) >= 25
    missing = read - documented
    assert not missing, f"add to docs/configuration.md: {sorted(missing)}"
    unread = {v for v in documented if v.startswith("TABLESYNC_")} - read
    assert not unread, f"docs/configuration.md names variables nothing reads: {sorted(unread)}"


def env_example() -> dict[str, str | None]:
    """variable -> value in .env.example; None for a variable shown only commented out."""
    found: dict[str, str | None] = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if m := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            found[m[1]] = m[2]
        elif m := re.fullmatch(r"# ([A-Z_]+)=(.*)", line):
            found.setdefault(m[1], None)
    return found


def test_env_example_lists_every_variable_with_the_documented_default() -> None:
    table = configuration_table()
    example = env_example()
    tests_only = {v for v in variables_the_code_reads() if v.startswith("TABLESYNC_TEST_")}
    missing = variables_the_code_reads() - tests_only - set(example)
    assert not missing, f"add to .env.example: {sorted(missing)}"
    for name, value in example.items():
        assert name in table, f"{name} is in .env.example, not in docs/configuration.md"
        default = re.fullmatch(r"`([^`]+)`", table[name].strip())
        if value and default:
            assert value == default[1], f"{name}: .env.example {value!r}, docs {default[1]!r}"


def test_every_definition_field_is_documented() -> None:
    documented = set(table_first_column(section(DOCS / "definitions.md", "Every field")))
    prefixes: dict[str, type[BaseModel]] = {
        "source.": SourceSpec,
        "source.cursor.": CursorSpec,
        "source.soft_delete.": SoftDeleteSpec,
        "destination.": DestinationSpec,
        "": ExportDefinition,
    }
    fields = set()
    for prefix, model in prefixes.items():
        for name, info in model.model_fields.items():
            if info.annotation in (SourceSpec, DestinationSpec, CursorSpec):
                continue  # a group: its fields are listed one by one
            if name == "soft_delete":
                continue  # the group source.soft_delete.*
            fields.add(prefix + (info.alias or name))
    assert fields == documented, (
        f"docs/definitions.md lacks {sorted(fields - documented)},"
        f" names fields that do not exist: {sorted(documented - fields)}"
    )


def test_every_test_the_guarantees_page_names_exists() -> None:
    text = section(DOCS / "guarantees.md", "Which tests hold each guarantee")
    named = re.findall(r"`(tests/[\w/]+\.py)`", text)
    assert len(named) >= 13
    for path in named:
        assert (REPO_ROOT / path).exists(), path
    numbered = re.findall(r"^\| (\d+)\. ", text, re.MULTILINE)
    listed = re.findall(
        r"^(\d+)\. ", section(DOCS / "guarantees.md", "The guarantees"), re.MULTILINE
    )
    assert numbered == listed, "each numbered guarantee has its row of tests"


def test_the_scaffold_page_gives_the_cursor_rule_the_code_follows() -> None:
    text = (DOCS / "scaffold.md").read_text()
    rule = text[text.index("comes first in this list:") :].split(". So ")[0]
    assert re.findall(r"`(\w+)`", rule) == list(CURSOR_NAMES)


def test_benchmarks_md_keeps_how_to_run_and_the_current_figures() -> None:
    text = (REPO_ROOT / "BENCHMARKS.md").read_text()
    assert len(text.splitlines()) <= 300, "BENCHMARKS.md: move a finished round to docs/benchmarks/"
    assert "## Current figures" in text and "make bench" in text


def test_every_page_the_code_names_exists() -> None:
    """Comments and docstrings cite pages (docs/guarantees.md, docs/benchmarks/round-7.md)."""
    sources = [*REPO_ROOT.glob("*.py")]
    for folder in ("services", "jobs", "tools", "tests"):
        sources += (REPO_ROOT / folder).rglob("*.py")
    cited = {
        (path, page)
        for path in sources
        for page in re.findall(r"\b(docs/[\w/.-]+\.md|[A-Z]+\.md)\b", path.read_text())
    }
    assert len(cited) >= 20
    for path, page in cited:
        assert (REPO_ROOT / page).exists(), f"{path.relative_to(REPO_ROOT)} cites {page}"


def test_the_first_table_steps_set_aside_exactly_the_demo() -> None:
    """Step 4 names the shipped definitions and the migrations creating their destinations,
    and nothing else: a user deleting them keeps every runner table."""
    from jobs.export_to_pg.config import DEFINITIONS

    steps = section(README, "Your first table")
    destinations = {f"{d.destination.schema_}.{d.destination.table}" for d in DEFINITIONS.values()}
    creating = set()
    for path in (REPO_ROOT / "db" / "migrations").glob("*.sql"):
        up = path.read_text().split("-- migrate:down")[0]
        created = {
            t.replace('"', "") for t in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\S+)", up)
        }
        if created & destinations:
            assert created <= destinations, f"{path.name} creates runner tables too"
            creating.add(path.relative_to(REPO_ROOT).as_posix())
    assert set(re.findall(r"`(db/migrations/[\w.]+\.sql)`", steps)) == creating
    for name in DEFINITIONS:
        assert f"`{name}`" in steps, f"step 4 does not name {name}"


def test_every_benchmark_is_in_benchmarks_md_and_every_page_in_the_index() -> None:
    text = (REPO_ROOT / "BENCHMARKS.md").read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = re.findall(r"^(bench[\w-]*):", makefile, re.MULTILINE)
    assert "bench" in targets
    for target in targets:
        assert f"make {target}" in text, f"BENCHMARKS.md does not say how to run make {target}"
    index = (DOCS / "benchmarks" / "index.md").read_text()
    for page in (DOCS / "benchmarks").glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/benchmarks/index.md does not link {page.name}"


def test_no_page_holds_a_merge_conflict() -> None:
    """mkdocs renders a conflict's markers as text: a merge left unresolved builds green."""
    pages = [README, REPO_ROOT / "BENCHMARKS.md", REPO_ROOT / "mkdocs.yml", *DOCS.rglob("*.md")]
    marker = re.compile(r"^(<{7} |>{7} |={7}$)", re.MULTILINE)
    for page in pages:
        assert not marker.search(page.read_text()), (
            f"{page.relative_to(REPO_ROOT)}: conflict markers"
        )


def test_every_page_of_the_site_is_linked_from_the_readme_and_the_home_page() -> None:
    readme = README.read_text()
    home = (DOCS / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
            assert f"]({page.name})" in home, f"docs/index.md does not link {page.name}"
