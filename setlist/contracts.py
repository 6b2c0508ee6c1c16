"""Table contracts: the DDL files in ``sql/<layer>/<table>.sql`` are the
single source of each table's columns and types.

``conform(df, layer, table)`` selects and casts a DataFrame to its contract
(failing with the missing column's name), so what a stage writes is exactly
what the DDL says.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def ddl(layer: str, table: str) -> str:
    try:
        return resources.files("setlist.sql").joinpath(layer, f"{table}.sql").read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"no table contract sql/{layer}/{table}.sql") from None


def columns(layer: str, table: str) -> list[tuple[str, str]]:
    """[(name, spark type)] in contract order; comments and constraints ignored."""
    text = re.sub(r"--[^\n]*", "", ddl(layer, table))
    i = text.index("(") + 1
    out, depth, cur = [], 0, ""
    for ch in text[i:]:
        if ch == ")" and depth == 0:
            break
        depth += ch in "<("
        depth -= ch in ">)"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    cols = []
    for item in out:
        item = " ".join(item.split())
        if not item:
            continue
        name, typ = item.split(" ", 1)
        typ = re.sub(r"\s+NOT NULL$", "", typ, flags=re.I)
        cols.append((name, typ))
    return cols


def conform(df, layer: str, table: str):
    from pyspark.sql import functions as F
    cols = columns(layer, table)
    missing = [c for c, _ in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{layer}/{table}: columns {missing} required by sql/{layer}/{table}.sql are missing")
    return df.select(*[F.col(c).cast(t).alias(c) for c, t in cols])
