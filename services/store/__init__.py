"""What the two databases hold and how it is asked for: catalog reads, the plan
resolved from a definition, pre-flight checks, the one place SQL is composed,
run records, positions' locks and row estimates.

May import ``services.base`` only.
"""
