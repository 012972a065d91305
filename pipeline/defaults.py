"""Defaults of the ingestion batches, in a module that imports nothing.

The ``wastemap`` CLI shows them as its options' defaults; it imports them from here so that
``wastemap --help`` does not import the batch machinery. :mod:`pipeline.batches` imports and
re-exports them: use them from there as before.
"""

from __future__ import annotations

#: Files per chunk of a batch (a chunk is processed as one unit, in-process or by a worker).
DEFAULT_CHUNK_SIZE = 16
