"""Setlist: nightly personalised playlists, held to account.

The package maps the repository's top-level folders into one namespace:
``setlist.jobs`` (stages), ``setlist.features`` (Feast declarations),
``setlist.governance`` (metrics, checks, reports) and ``setlist.sql``
(table contracts). Core plumbing (config, storage, Spark, CLI) lives here.
"""

__version__ = "0.1.0"
