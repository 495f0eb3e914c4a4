"""The benchmark's A/B levers reach the code they turn off: a lever that patches a name the
engine no longer reads would measure "on" twice and call it an A/B."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import services.base.exact_json as exact_json
import services.sync.route as route
import services.sync.write.batch_writer as batch_writer
import services.sync.write.fast_path as fast_path
from tools.bench.driver import _pull_levers

_pull_levers({"BENCH_PREFETCH": "0", "BENCH_FAST_PATH": "0", "BENCH_DISTINCT": "1",
              "BENCH_EXACT_JSON": "1"})
assert route.PREFETCH is False
assert fast_path.fast_path_allowed(None, None, empty=True) is False
assert batch_writer.batch_keys_unique(None) is False
assert exact_json.loads is exact_json._exact_loads
print("levers pulled")
"""


def test_each_lever_changes_what_the_engine_reads() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "levers pulled"


def test_a_lever_on_a_name_the_module_lost_is_an_error() -> None:
    probe = (
        "import services.sync.read.batch_sources as m\n"
        "from tools.bench.driver import _set_lever\n"
        "_set_lever(m, 'PREFETCH', False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "bench lever services.sync.read.batch_sources.PREFETCH no longer exists" in done.stderr
