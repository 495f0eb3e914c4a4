"""Databases for the tests, the demo and the benchmarks: an embedded PostgreSQL server
(embedded_pg), core's schema (core_schema), deterministic sample rows (seed_core) and a
larger sample core schema (sample_rental.sql). Imports nothing else of tools/.
"""
