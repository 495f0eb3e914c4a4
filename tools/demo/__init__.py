"""The demo: a sync round trip on sample data (``make demo``), the same data in the web
console (``make console``) and the README's screenshots of it (``make screenshots``).

Each runs on its own throwaway server (tools.testdb), never on DATABASE_URL_*.
"""
