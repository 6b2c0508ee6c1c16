"""Rules: data-quality suites, governance metrics, policies and reports.

No I/O in the metric code; the audit stage (``setlist.jobs.audit``) reads the
lake and hands DataFrames here.
"""
