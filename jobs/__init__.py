"""Stages of the nightly flow, one module each: ingest → clean → features →
candidates → train → playlists → audit → export.

Every module exposes pure ``transform``-style functions over DataFrames and a
thin ``run(ctx)`` that reads its inputs, calls them, and replaces its own
``ds`` partition.
"""
