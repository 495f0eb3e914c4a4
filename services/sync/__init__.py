"""The data path: one definition's run, batch by batch, from core into analytics.

``process_definition`` is the hub: it fixes the watermark, takes batches from
a source (``batch_sources``: a query, the prefetch thread or the transform
workers), writes each (``batch_writer``: straight in on the fast path, else
staged and upserted) and commits it with its position. May import
``services.base`` and ``services.store``.
"""
