"""A catalog of titles on Dask distributed, beside the per-title pipeline.

:mod:`~thumbsel.catalog.titles` finds the titles, :mod:`~thumbsel.catalog.task`
picks one on a worker (idempotent: skipped when unchanged, swapped into place
when complete), :mod:`~thumbsel.catalog.run` submits them to a cluster, and
:mod:`~thumbsel.catalog.index` writes ``catalog.parquet``,
``candidates.parquet`` and ``index.html``.
"""

from thumbsel.catalog.index import CANDIDATE_SCHEMA, CATALOG_SCHEMA, write_index
from thumbsel.catalog.run import CatalogResult, dask_client, run_catalog
from thumbsel.catalog.task import run_title
from thumbsel.catalog.titles import Title, find_titles

__all__ = [
    "CANDIDATE_SCHEMA",
    "CATALOG_SCHEMA",
    "CatalogResult",
    "Title",
    "dask_client",
    "find_titles",
    "run_catalog",
    "run_title",
    "write_index",
]
