"""The web console (``python run_job.py serve``): the operators' pages, the JSON API,
health for probes, metrics for Prometheus and runs started over HTTP.

A thin layer over what the command line uses: the status report
(``services.reporting``), the run records and locks (``services.store``) and the
job definitions (``services.cli.definitions``); no SQL of its own. May import every
other room; nothing in ``services`` imports it.
"""

from __future__ import annotations

__all__: list[str] = []  # nothing outside this room imports it
