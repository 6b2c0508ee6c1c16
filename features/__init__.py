"""What is served: Feast entities, sources, feature views and services.

Declarations only (``repo.py``); the infrastructure lives in
``feature_store.yaml`` (local) and ``feature_store.cluster.yaml``.
"""
