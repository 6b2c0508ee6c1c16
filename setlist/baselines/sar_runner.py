"""Run Microsoft recommenders' SAR on CSV files: a standalone script.

SAR (``recommenders`` 1.2.1) needs numpy < 2, so it runs in its own virtual
environment; ``setlist.baselines.sar`` writes the inputs, runs this file with
that environment's interpreter and reads the output. This file imports nothing
from ``setlist`` (only the standard library, pandas and recommenders).

    python sar_runner.py DIR [--k 100] [--similarity jaccard]

Reads ``DIR/train.csv`` (user, item, rating: integers, float) and
``DIR/users.csv`` (user), writes ``DIR/recs.csv`` (user, item, score, rank;
rank 1 = best) with the seen items removed, and ``DIR/sar.json`` (versions,
seconds). Time decay is off: the inputs carry no timestamps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--similarity", default="jaccard")
    ap.add_argument("--threshold", type=int, default=1)
    args = ap.parse_args(argv)

    import numpy as np
    import pandas as pd
    import recommenders
    from recommenders.models.sar import SAR

    folder = Path(args.dir)
    t0 = time.perf_counter()
    train = pd.read_csv(folder / "train.csv", dtype={"user": "int64", "item": "int64", "rating": "float32"})
    users = pd.read_csv(folder / "users.csv", dtype={"user": "int64"})
    model = SAR(col_user="user", col_item="item", col_rating="rating", col_timestamp="ts",
                col_prediction="score", similarity_type=args.similarity, timedecay_formula=False,
                threshold=args.threshold, normalize=False)
    model.fit(train)
    fit_s = time.perf_counter() - t0
    known = users[users["user"].isin(train["user"].unique())].drop_duplicates()
    if len(known):
        recs = model.recommend_k_items(known, top_k=args.k, sort_top_k=True, remove_seen=True)
    else:
        recs = pd.DataFrame({"user": [], "item": [], "score": []})
    recs = recs[np.isfinite(recs["score"].to_numpy(dtype=float))]
    recs = recs.sort_values(["user", "score", "item"], ascending=[True, False, True], kind="stable")
    recs["rank"] = recs.groupby("user").cumcount() + 1
    recs[["user", "item", "score", "rank"]].to_csv(folder / "recs.csv", index=False)
    info = {"recommenders": recommenders.__version__, "numpy": np.__version__, "pandas": pd.__version__,
            "similarity": args.similarity, "threshold": args.threshold, "items": int(train["item"].nunique()),
            "fit_seconds": round(fit_s, 3), "seconds": round(time.perf_counter() - t0, 3)}
    (folder / "sar.json").write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
