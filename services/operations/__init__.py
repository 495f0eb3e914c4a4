"""Operator commands beside the ordinary run: dry run, verify (and repair),
reset and replay, full refresh.

May import ``services.base``, ``services.store``, ``services.sync`` and
``services.reporting``.
"""
