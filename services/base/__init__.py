"""The base every room stands on: definitions, errors, settings, database pools,
positions, run results, redaction, constants and the test-only kill hooks.

Imports nothing else from ``services``; every other room may import it.
"""
