"""A versioned model store on the local filesystem (or any mounted path).

``<root>/<version>/`` holds ``model.json`` (XGBoost's own format),
``meta.json`` (features, training window, Delta table versions read,
metrics, promotion decision) and ``card.md``. ``<root>/CURRENT`` names the
version the playlists stage uses; ``<root>/promotions.json`` keeps every
gate decision by version.
"""

from __future__ import annotations

import json
from pathlib import Path


class ModelStore:
    def __init__(self, root):
        self.root = Path(root)

    def current_version(self) -> str | None:
        p = self.root / "CURRENT"
        return p.read_text().strip() if p.exists() else None

    def load(self, version: str | None = None):
        """(booster, meta) of a version (default: the current one), or (None, None)."""
        import xgboost as xgb
        version = version or self.current_version()
        if not version or not (self.root / version / "model.json").exists():
            return None, None
        booster = xgb.Booster()
        booster.load_model(str(self.root / version / "model.json"))
        return booster, json.loads((self.root / version / "meta.json").read_text())

    def save_and_gate(self, version, booster, meta, holdout, features, metric, margin: float) -> dict:
        """Save a version, then promote it only if it beats the current model on
        ``holdout`` by ``margin`` (metric = mean NDCG@10, higher is better)."""
        import xgboost as xgb
        d = self.root / version
        d.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(d / "model.json"))
        new_score = metric(booster.predict(xgb.DMatrix(holdout[features])))
        current = self.current_version()
        decision = {"candidate": version, "candidate_ndcg@10": round(new_score, 6), "current": current,
                    "margin": margin}
        if current is None:
            decision.update(decision="promoted", why="no current model")
        elif current == version:
            decision.update(decision="kept", why="this version is already current (re-run)")
        else:
            cur, cur_meta = self.load(current)
            if cur is None or not set(cur_meta["features"]) <= set(holdout.columns):
                decision.update(decision="promoted", why="current model cannot score this holdout")
            else:
                cur_score = metric(cur.predict(xgb.DMatrix(holdout[cur_meta["features"]])))
                decision["current_ndcg@10"] = round(cur_score, 6)
                if new_score > cur_score + margin:
                    decision.update(decision="promoted", why=f"beats current by more than {margin}")
                else:
                    decision.update(decision="rejected", why=f"does not beat current by more than {margin}")
        meta = {**meta, "promotion": decision}
        (d / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        (d / "card.md").write_text(model_card(meta))
        if decision["decision"] == "promoted":
            (self.root / "CURRENT").write_text(version + "\n")
        log_path = self.root / "promotions.json"
        log = json.loads(log_path.read_text()) if log_path.exists() else {}
        log[version] = decision
        log_path.write_text(json.dumps(log, indent=2, sort_keys=True))
        return decision


def model_card(meta: dict) -> str:
    m, w = meta["metrics"], meta["training_window"]
    lines = [
        f"# Reranker model card — version {meta['version']}",
        "",
        "XGBoost learning-to-rank (`rank:ndcg`, one group per listener) that reorders each "
        "listener's candidate tracks for the nightly playlist.",
        "",
        "## Data window",
        f"- candidates and point-in-time features as of **{w['anchor']}**",
        f"- labels from listening on **{w['labels_from']} .. {w['labels_to']}** "
        "(0 = not played or skipped, 1 = completed, 2 = completed and liked/saved)",
        "- Delta table versions read: " + ", ".join(f"`{k}`@{v}" for k, v in sorted(meta["table_versions"].items())),
        "",
        "## Features",
        *[f"- `{f}`" for f in meta["features"]],
        "",
        "## Metrics (validation listeners, hash split)",
        "| metric | reranker | ALS order |",
        "| --- | --- | --- |",
        f"| NDCG@10 | {m['ndcg@10']:.4f} | {m['baseline_ndcg@10']:.4f} |",
        f"| Recall@10 | {m['recall@10']:.4f} | {m['baseline_recall@10']:.4f} |",
        "",
        f"Training rows {m['train_rows']:,} ({m['train_users']:,} listeners), validation rows "
        f"{m['valid_rows']:,} ({m['valid_users']:,} listeners). Metrics by listener group are in the "
        "nightly governance report (`reports/<ds>/governance.html`).",
        *_sample_lines(meta.get("training_listeners")),
        "",
        "## By listener group (validation NDCG@10; groups under the minimum size are suppressed)",
        *_group_lines(meta.get("metrics_by_group", {})),
        "",
        "## Candidate recall (share of what listeners went on to play that each generator proposed)",
        *[f"- {k}: {v}" for k, v in sorted((meta.get("candidate_recall") or {}).items())],
        "",
        "## Promotion",
        f"{meta['promotion']['decision']}: {meta['promotion']['why']}.",
        "",
        "## Known limits",
        "- Trained on one day of outcomes; listeners with no completed play in the label window are left out.",
        "- The reranker only reorders what the candidate generators proposed (ALS, co-listening, content, "
        "genre popularity, new releases, popularity): it cannot surface a track none of them proposed.",
        "- Offline NDCG measures agreement with what listeners played next, which playlists themselves influence.",
    ]
    return "\n".join(lines) + "\n"


def _sample_lines(chosen: dict | None) -> list[str]:
    if not chosen or chosen["chosen"] == chosen["usable"]:
        return []
    return ["", f"Listeners: a hash sample of {chosen['chosen']:,} of the {chosen['usable']:,} with a relevant and "
                f"a non-relevant candidate (`model.max_training_listeners`: {chosen['max']:,})."]


def _group_lines(by_group: dict) -> list[str]:
    lines = []
    for attr, groups in by_group.items():
        shown = [f"{g} {v['ndcg@10']:.3f} (n={v['listeners']})" for g, v in sorted(groups.items())
                 if not v["suppressed"]]
        hidden = sum(v["suppressed"] for v in groups.values())
        lines.append(f"- {attr}: " + ("; ".join(shown) if shown else "no group large enough")
                     + (f"; {hidden} group(s) suppressed" if hidden else ""))
    return lines
