"""Deletion requests: erase a listener's rows from every table in the lake.

Runs at the end of the clean stage, so a request that arrives in the users
snapshot of ds is honoured by that night's run. The users table keeps only a
tombstone (user_id, deletion_requested_at, is_deleted) so later runs know.
"""

from __future__ import annotations

# Tables that keep the tombstone (the row of the current ds) rather than losing the row.
TOMBSTONES = {("silver", "users")}


def erase_deleted_users(lake, deleted_ids, ds: str, log=print, config=None) -> dict:
    """Delete rows of ``deleted_ids`` (a one-column Spark DataFrame of user_id)
    from every table with a ``user_id`` column, and from the Feast online
    store when ``config`` is given. Returns rows removed per table."""
    if deleted_ids is None:
        return {}
    ids = sorted(r[0] for r in deleted_ids.collect())
    if not ids:
        return {}
    removed = {}
    if config is not None:
        from setlist.featurestore import erase_online
        n = erase_online(config, ids)
        if n:
            removed["feast/online"] = n
    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    for layer, table in lake.tables():
        cols = _columns(lake, layer, table)
        if "user_id" not in cols:
            continue
        keep_tomb = f" AND ds != '{ds}'" if (layer, table) in TOMBSTONES else ""
        n = lake.delete(layer, table, f"user_id IN ({quoted}){keep_tomb}")
        if n:
            removed[f"{layer}/{table}"] = n
    if removed:
        log(f"deletion requests: erased {sum(removed.values()):,} rows of {len(ids)} listeners "
            f"from {len(removed)} tables")
    return removed


def _columns(lake, layer, table):
    if lake.engine == "delta-rs":
        from deltalake import DeltaTable
        return [f.name for f in DeltaTable(lake.path(layer, table)).schema().fields]
    return lake.read(layer, table).columns
