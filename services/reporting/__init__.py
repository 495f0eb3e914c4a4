"""What the operator sees of runs: the status view, summary lines and JSON,
Slack notifications, the progress bar and log formatting.

May import ``services.base`` and ``services.store``; never the data path.
"""
