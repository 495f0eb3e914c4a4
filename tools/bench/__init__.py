"""The benchmarks: commands that print medians and ratios measured side by side in one run.

``python -m tools.bench`` (``make bench``) is the headline benchmark (headline.py); each
other module is its own command (``python -m tools.bench.scale`` and so on, listed in
BENCHMARKS.md). They may import tools.testdb and tools.demo, never the other way round.
"""
