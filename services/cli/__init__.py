"""The command-line front end that every job shares: selecting definitions,
running them (in parallel with ``--jobs``), the status view and the operator
commands behind one click command built per job.

May import every other room; nothing in ``services`` imports it.
"""
