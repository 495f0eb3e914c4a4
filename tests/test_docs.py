"""The README's "How the code is laid out" matches the tree: every room of services/ has
its line, and every module the section names exists."""

from __future__ import annotations

import re

from dbtools import REPO_ROOT

SERVICES = REPO_ROOT / "services"
COMING = {"console"}  # named before it is built


def layout_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("## How the code is laid out\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_room_has_its_line_and_every_line_a_room() -> None:
    named = set(re.findall(r"^- `services/(\w+)`", layout_section(), re.MULTILINE))
    rooms = {p.parent.name for p in SERVICES.glob("*/__init__.py")}
    assert named - COMING == rooms - COMING
    assert rooms <= named


def test_every_module_it_names_exists() -> None:
    section = layout_section()
    dotted = set(re.findall(r"`(\w+)\.(\w+)`", section))
    assert dotted, "the section names no room.module"
    for room, module in dotted:
        if room in {p.parent.name for p in SERVICES.glob("*/__init__.py")}:
            assert (SERVICES / room / f"{module}.py").exists(), f"{room}.{module}"
    for path in re.findall(r"`((?:jobs|services)/[\w/]+\.py|run_job\.py)`", section):
        assert (REPO_ROOT / path).exists(), path


def test_the_modules_named_on_a_rooms_line_are_in_that_room() -> None:
    lines = re.findall(r"^- `services/(\w+)`(.*)$", layout_section(), re.MULTILINE)
    for room, rest in lines:
        if room in COMING:
            continue
        for module in re.findall(r"`(\w+)`", rest):
            assert (SERVICES / room / f"{module}.py").exists(), f"{room}: {module}"
