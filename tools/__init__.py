"""This repository's own tools, run from its root; none of them ships in the wheel.

- ``tools.bench``: the benchmarks (``make bench`` and the other ``bench-*`` targets).
- ``tools.demo``: the demo round trip, the demo console and its screenshots.
- ``tools.testdb``: the embedded PostgreSQL, core's schema and sample data, for the
  tests, the demo and the benchmarks.
- ``tools.front_doors``: rewrites imports that reach past a room's front door.
"""
