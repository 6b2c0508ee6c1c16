"""The governance report: one self-contained HTML page for a governance analyst.

Verdicts first, then each chart with a one-line plain-language reading.
Charts are matplotlib PNGs embedded as base64, so the page opens anywhere,
offline, as a single file. Everything shown comes from audit.json.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

SOURCE_COLOURS = {"algorithmic": "#2980b9", "editorial": "#8e44ad", "organic": "#95a5a6"}
KPI_TITLES = {"skip_rate": "skip rate", "completion_rate": "completion rate",
              "plays_per_session": "plays per session", "novelty": "share of plays new to the listener"}


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figure(ncols: int = 1, width: float = 6.4, height: float = 3.6):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    for ax in axes[0]:
        ax.spines[["top", "right"]].set_visible(False)
    return fig, (axes[0][0] if ncols == 1 else list(axes[0]))


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


# --- exposure ---------------------------------------------------------------------
def lorenz_chart(exposure: dict) -> tuple[str, str]:
    lz = exposure["lorenz_artists"]
    fig, ax = _figure()
    ax.plot([0, 100], [0, 100], ls="--", color="#999", label="perfectly even")
    ax.plot([x * 100 for x in lz["item_share"]], [y * 100 for y in lz["exposure_share"]],
            color="#c0392b", lw=2, label="tonight's playlists")
    ax.set_xlabel("% of catalogue artists (least exposed first)")
    ax.set_ylabel("% of all playlist exposure")
    ax.legend(frameon=False)
    share_bottom = 100 - 100 * _top_share(lz, 0.9)
    reading = (f"The least exposed 90% of artists receive {share_bottom:.1f}% of playlist exposure "
               f"(Gini {exposure['artist_gini']:.2f}; 0 = even, 1 = all to one artist).")
    return _png(fig), reading


def _top_share(lz: dict, at: float) -> float:
    for x, y in zip(lz["item_share"], lz["exposure_share"]):
        if x >= at:
            return 1 - y
    return 0.0


def label_kind_chart(exposure: dict) -> tuple[str, str]:
    kinds = ["major", "independent", "self_released"]
    got = [100 * exposure["share_by_label_kind"].get(k, 0) for k in kinds]
    cat = [100 * exposure["catalogue_share_by_label_kind"].get(k, 0) for k in kinds]
    fig, ax = _figure()
    xs = range(len(kinds))
    ax.bar([x - 0.2 for x in xs], cat, width=0.4, color="#95a5a6", label="share of catalogue tracks")
    ax.bar([x + 0.2 for x in xs], got, width=0.4, color="#2980b9", label="share of playlist exposure")
    ax.set_xticks(list(xs), [k.replace("_", "-") for k in kinds])
    ax.set_ylabel("%")
    ax.legend(frameon=False)
    lead = max(zip(got, cat, kinds), key=lambda t: t[0] - t[1])
    reading = (f"{lead[2].replace('_', '-').capitalize()} labels get {lead[0]:.1f}% of exposure "
               f"while holding {lead[1]:.1f}% of the catalogue.")
    return _png(fig), reading


def concentration_table(exposure: dict) -> str:
    rows = []
    for level in ("tracks", "artists", "labels"):
        c = exposure.get(level)
        if c:
            rows.append({"level": level, **c})
    return _table(rows, [("level", "exposure of"), ("population", "how many in the catalogue"), ("gini", "Gini"),
                         ("hhi", "HHI"), ("entropy_normalised", "evenness (normalised entropy)"),
                         ("top_1pct_share", "share held by the top 1%")])


# --- popularity bias --------------------------------------------------------------
def bucket_chart(bias: dict) -> tuple[str, str]:
    b = bias["buckets"]
    fig, ax = _figure()
    xs = range(len(b))
    ax.bar([x - 0.2 for x in xs], [100 * r["play_share"] for r in b], width=0.4, color="#95a5a6",
           label="share of listening (28 days)")
    ax.bar([x + 0.2 for x in xs], [100 * r["exposure_share"] for r in b], width=0.4, color="#e67e22",
           label="share of tonight's exposure")
    for x, r in zip(xs, b):
        lift = "no plays" if r["lift"] is None else f"lift {r['lift']:.2f}"
        ax.annotate(lift, (x, max(100 * r["play_share"], 100 * r["exposure_share"])), ha="center", va="bottom",
                    fontsize=9)
    ax.set_xticks(list(xs), [f"{r['bucket']}\n({r['tracks']:,} tracks)" for r in b])
    ax.set_ylabel("%")
    ax.legend(frameon=False, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    tail = bias["tail_lift"]
    reading = ("Tail tracks had no plays to compare with." if tail is None else
               f"Long-tail tracks get {tail:.2f}× the exposure their share of listening would give them "
               f"(1 = proportional); head tracks get {bias['head_lift'] or 0:.2f}×.")
    return _png(fig), reading


# --- fairness -----------------------------------------------------------------------
def artist_group_chart(groups: dict) -> tuple[str, str] | None:
    attrs = [a for a, g in groups.items() if any(not v["suppressed"] for v in g["groups"].values())]
    if not attrs:
        return None
    fig, axes = _figure(ncols=len(attrs), width=3.2 * len(attrs), height=3.4)
    axes = axes if isinstance(axes, list) else [axes]
    worst = None
    for ax, attr in zip(axes, attrs):
        shown = {g: v for g, v in groups[attr]["groups"].items()
                 if not v["suppressed"] and v["exposure_to_merit"] is not None}
        names = list(shown)
        vals = [shown[g]["exposure_to_merit"] for g in names]
        ax.barh(names, vals, color=["#c0392b" if v < 0.8 else "#27ae60" for v in vals])
        ax.axvline(1.0, color="#333", ls="--", lw=1)
        ax.set_title(attr.replace("_", " "), fontsize=10)
        ax.set_xlabel("exposure ÷ merit (1 = fair share)")
        ax.tick_params(axis="y", labelsize=8)
        for g, v in zip(names, vals):
            if worst is None or v < worst[2]:
                worst = (attr, g, v)
    fig.tight_layout()
    reading = ("No artist group had listening to compare with." if worst is None else
               f"The least favoured group is {worst[1].replace('_', ' ')} artists (by {worst[0].replace('_', ' ')}): "
               f"they get {worst[2]:.2f}× the exposure their listening would justify (1 = fair share).")
    return _png(fig), reading


def group_chart(group: dict) -> tuple[str, str] | None:
    shown = {g: v for g, v in group["groups"].items() if not v["suppressed"]}
    if not shown:
        return None
    fig, ax = _figure()
    names = list(shown)
    vals = [shown[g]["ndcg@10"] for g in names]
    bars = ax.bar(names, vals, color="#27ae60")
    for b, g in zip(bars, names):
        ax.annotate(f"n={shown[g]['listeners']}", (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("NDCG@10 (higher = better ranked)")
    ax.set_xlabel(group["attribute"].replace("_", " "))
    hidden = sum(1 for v in group["groups"].values() if v["suppressed"])
    if len(shown) == 1:
        return _png(fig), (f"Only the {names[0]} group has enough evaluated listeners to show "
                           f"(NDCG@10 {vals[0]:.2f}); {hidden} smaller group(s) are hidden, so no comparison is possible.")
    ratio = group["ratio"]["ndcg@10"]
    reading = (f"By {group['attribute'].replace('_', ' ')}, the worst-served group gets "
               f"{100 * ratio:.0f}% of the ranking quality of the best-served group"
               + (f"; {hidden} group(s) too small to show." if hidden else "."))
    return _png(fig), reading


# --- influence ----------------------------------------------------------------------
def influence_chart(influence: dict, level: str, name_of) -> tuple[str, str] | None:
    inf = influence[level]
    top = inf["top"]
    if not top:
        return None
    fig, ax = _figure(width=7.2, height=0.35 * len(top) + 1.6)
    names = [name_of(r) for r in top][::-1]
    left = [0.0] * len(top)
    for s, colour in SOURCE_COLOURS.items():
        vals = [100 * (r[f"{s}_share_this_week"] or 0) for r in top][::-1]
        ax.barh(names, vals, left=left, color=colour, label=s)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("% of the week's plays, by where the play started")
    ax.set_xlim(0, 100)
    ax.legend(frameon=False, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    tw = inf["this_week"]
    change = inf.get("algorithmic_share_change_pp")
    reading = (f"Across all {level}, {_pct(tw['algorithmic_share'])} of this week's plays started in algorithmic "
               f"contexts, {_pct(tw['editorial_share'])} in editorial playlists and {_pct(tw['organic_share'])} "
               "with the listener"
               + ("." if change is None else f"; the algorithmic share moved {change:+.1f} points from last week."))
    return _png(fig), reading


# --- experiments --------------------------------------------------------------------
def experiment_chart(exp: dict) -> tuple[str, str] | None:
    arms = [a for a in exp["arms"] if not a["suppressed"]]
    if not arms:
        return None
    kpis = list(KPI_TITLES)
    fig, axes = _figure(ncols=len(kpis), width=11, height=3.0)
    for ax, k in zip(axes, kpis):
        means = [a[k]["mean"] for a in arms]
        err = [[m - a[k]["ci95"][0] for m, a in zip(means, arms)], [a[k]["ci95"][1] - m for m, a in zip(means, arms)]]
        ax.bar([a["arm"] for a in arms], means, yerr=err, capsize=4, color="#16a085")
        ax.set_title(KPI_TITLES[k], fontsize=10)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
    fig.tight_layout()
    sig = [(a["arm"], k, a[k]["vs_control"]["difference"]) for a in arms for k in kpis
           if a[k].get("vs_control", {}).get("significant")]
    if sig:
        arm, k, d = sig[0]
        tests = sum(1 for a in arms for k in kpis if "vs_control" in a[k])
        reading = (f"{len(sig)} of {tests} differences from control are larger than chance would explain at 95%, e.g. "
                   f"the {arm} arm's {KPI_TITLES[k]} differs by {d:+.3f}; with {tests} comparisons, about "
                   f"{tests / 20:.1f} would look this large by chance alone.")
    else:
        reading = ("No arm differs from control by more than chance would explain (95% intervals; bars show each "
                   "arm's mean and its interval).")
    return _png(fig), reading


# --- trends -------------------------------------------------------------------------
def trend_chart(trends: dict) -> tuple[str, str] | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = trends["runs"]
    series = {m: v for m, v in trends["metrics"].items() if any(x is not None for x in v["values"])}
    if len(runs) < 2 or not series:
        return None
    cols = 3
    rows = -(-len(series) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.8 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (m, v) in zip(flat, series.items()):
        pts = [(d[5:], x) for d, x in zip(runs, v["values"]) if x is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color="#34495e")
        ax.set_title(v["label"], fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=45)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in flat[len(series):]:
        ax.set_visible(False)
    fig.tight_layout()
    g = trends["metrics"]["exposure.artist_gini"]["values"]
    reading = (f"Over the last {len(runs)} runs the Gini of artist exposure went from {g[0]:.2f} to {g[-1]:.2f}."
               if g[0] is not None and g[-1] is not None else f"Key metrics over the last {len(runs)} runs.")
    return _png(fig), reading


# --- page ---------------------------------------------------------------------------
def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c, _ in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return html.escape("" if v is None else str(v))


def _section(title: str, chart, empty: str) -> str:
    if chart is None:
        return f"<h2>{html.escape(title)}</h2><p class='reading'>{html.escape(empty)}</p>"
    img, reading = chart
    return (f"<h2>{html.escape(title)}</h2><p class='reading'>{html.escape(reading)}</p>"
            f"<img alt='{html.escape(title)}' src='data:image/png;base64,{img}'>")


def overrides_section(ov: dict) -> str:
    items = ov["items"]
    if not items:
        return "<h2>Governance overrides in force</h2><p class='reading'>No override was in force tonight.</p>"
    rows = [{**r, "target": f"{r['target_name'] or r['target_id']} ({r['target_type']})",
             "exposure_before": "no run before it" if r["before_ds"] is None else r["exposure_before"],
             "exposure_change": "n/a" if r["before_ds"] is None else r["exposure_change"]} for r in items]
    table = _table(rows, [("target", "target"), ("action", "action"), ("reason", "reason"),
                          ("requested_by", "requested by"), ("start_ds", "from"), ("end_ds", "to"),
                          ("listeners_with_candidate", "listeners it was a candidate for"),
                          ("listeners_shown", "listeners shown it"), ("exposure_tonight", "exposure tonight"),
                          ("exposure_before", "exposure before the override"), ("exposure_change", "change")])
    kept_out = sum(r["listeners_with_candidate"] for r in items if r["action"] == "suppress")
    reading = (f"{len(items)} override(s) were in force; suppressions kept their targets out of the playlists of "
               f"{kept_out} listener(s) who had them as candidates.")
    return f"<h2>Governance overrides in force</h2><p class='reading'>{html.escape(reading)}</p>{table}"


def write_governance_html(audit: dict, path: Path) -> Path:
    ex, fair, bias = audit["exposure"], audit["fairness"], audit["popularity_bias"]
    verdicts = audit["policy"]["verdicts"]
    colour = {"pass": "#27ae60", "warn": "#e67e22", "fail": "#c0392b", "not_measured": "#7f8c8d"}
    vrows = "".join(
        f"<tr><td><span class='pill' style='background:{colour[v['verdict']]}'>{v['verdict'].replace('_', ' ')}</span></td>"
        f"<td>{html.escape(v['metric'])}</td><td>{_fmt(v['value'])}</td><td>{html.escape(v['threshold'])}</td>"
        f"<td>{html.escape(v['why'])}</td></tr>" for v in verdicts)
    names = {r["artist_id"]: r["name"] for r in ex["top_artists"]}
    sections = [
        _section("Who gets exposure: Lorenz curve of artists", lorenz_chart(ex), ""),
        "<h3>Concentration of exposure</h3>" + concentration_table(ex),
        _section("Majors, independents and self-released artists", label_kind_chart(ex), ""),
        _section("Popularity bias: head, mid and long tail", bucket_chart(bias), ""),
        f"<div class='kpis'><div class='kpi'><b>{bias['arp'] if bias['arp'] is None else round(bias['arp'], 1)}</b>"
        "average 28-day plays of a recommended track (ARP)</div>"
        f"<div class='kpi'><b>{_pct(bias['aplt'])}</b>of each list outside the head (APLT)</div>"
        f"<div class='kpi'><b>{bias['aclt'] if bias['aclt'] is None else round(bias['aclt'], 1)}</b>"
        "long-tail tracks per list (ACLT)</div>"
        f"<div class='kpi'><b>{_pct(bias['track_coverage'])}</b>of catalogue tracks shown to someone</div></div>",
        _section("Fairness of exposure for groups of artists", artist_group_chart(fair.get("artist_groups", {})),
                 f"Every artist group has fewer than {audit['min_group_size']} artists, so none is shown."),
    ]
    groups = fair.get("listener_groups", {})
    if not groups:
        sections.append("<h2>Ranking quality by listener group</h2><p class='reading'>No reranker evaluation "
                        "is available yet (the model trains once a day of outcomes exists).</p>")
    for attr, group in groups.items():
        sections.append(_section(f"Ranking quality by listener {attr.replace('_', ' ')}", group_chart(group),
                                 f"Every group has fewer than {audit['min_group_size']} evaluated listeners, "
                                 "so none is shown."))
    inf = audit["influence"]
    sections += [
        _section("Influence: where each top artist's plays started this week",
                 influence_chart(inf, "artists", lambda r: names.get(r["artist_id"]) or r["artist_id"]),
                 "No plays this week."),
        _section("Influence by label", influence_chart(inf, "labels", lambda r: r.get("name") or r["label_id"]),
                 "No plays this week."),
        _section(f"Experiment {audit['experiments']['experiment']}: what listeners did next, per arm",
                 experiment_chart(audit["experiments"]),
                 "No earlier playlists (or no arm with enough listeners) to compare yet."),
        overrides_section(audit["overrides"]),
        _section("Trends over the previous runs", trend_chart(audit["trends"]),
                 "This is the first audited run; trends appear from the second."),
    ]
    top = _table(ex["top_artists"][:10], [("name", "artist"), ("artist_id", "id"), ("exposure", "exposure"),
                                          ("share", "share of exposure")])
    labels = _table(ex["top_labels"][:10], [("name", "label"), ("kind", "kind"), ("exposure", "exposure"),
                                            ("share", "share of exposure")])
    inputs = "".join(f"<li><code>{html.escape(k)}</code> version {v}</li>" for k, v in sorted(audit["inputs"].items()))
    fails = sum(v["verdict"] == "fail" for v in verdicts)
    warns = sum(v["verdict"] == "warn" for v in verdicts)
    headline = ("All policy checks pass." if not fails and not warns else
                f"{fails} policy check(s) failed and {warns} raised a warning.")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Setlist governance report — {audit['ds']}</title>
<style>
body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; padding: 0 1em; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }}
.sub {{ color: #666; margin-top: 0; }} .reading {{ font-size: 1.05em; background: #f6f8fa; padding: 0.5em 0.8em; border-left: 4px solid #2980b9; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.5em 0; font-size: 0.92em; }} th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; }}
.pill {{ color: white; padding: 2px 8px; border-radius: 10px; font-size: 0.85em; }}
img {{ max-width: 100%; }} .kpis {{ display: flex; gap: 1em; flex-wrap: wrap; margin: 0.8em 0; }}
.kpi {{ background: #f6f8fa; padding: 0.6em 1em; border-radius: 6px; max-width: 14em; }} .kpi b {{ display: block; font-size: 1.4em; }}
</style></head><body>
<h1>Governance report — {audit['ds']}</h1>
<p class="sub">Tonight's playlists: who they expose, whether every group of listeners and artists is treated fairly,
and how much of each artist's listening the platform drives.</p>
<h2>Summary of verdicts</h2><p class="reading">{headline}</p>
<table><thead><tr><th>verdict</th><th>metric</th><th>value</th><th>threshold</th><th>why it matters</th></tr></thead><tbody>{vrows}</tbody></table>
<div class="kpis">
<div class="kpi"><b>{ex['playlists']:,}</b>listeners served</div>
<div class="kpi"><b>{ex['artists_exposed']:,} / {ex['artists_in_catalogue']:,}</b>artists shown at least once</div>
<div class="kpi"><b>{ex['artist_gini']:.2f}</b>Gini of artist exposure</div>
<div class="kpi"><b>{100 * ex['top_artist_share']:.1f}%</b>exposure of the most exposed artist</div>
<div class="kpi"><b>{audit['overrides']['in_force']}</b>governance overrides in force</div>
</div>
{''.join(sections)}
<h2>Most exposed artists</h2>{top}
<h2>Most exposed labels</h2>{labels}
<h2>How to read this report</h2>
<p>Exposure counts each playlist slot with weight 1/log2(1 + position): the first track counts 1, the third 0.5,
the fifteenth 0.25, because listeners reach later tracks less often. Popularity buckets sort tracks by their plays
in the last 28 days: the head is the most played tracks that make up the first 20% of listening, the tail the least
played that make up the last 20% plus tracks nobody played. An artist's merit is its plays in the last 28 days.
Influence counts plays of at least the royalty threshold by the context they started in. Experiment intervals are
95% intervals over listeners. Groups with fewer than {audit['min_group_size']} listeners (artists, for artist
groups) are never shown. Ranking quality is NDCG@10 of the reranker on listeners held out from training, measured on
what they played next. The CSV files beside this page hold every table in full.</p>
<h2>Inputs (Delta table versions, for reproduction by time travel)</h2><ul>{inputs}</ul>
<p class="sub">audit.json schema {audit['schema_version']}; policy from {html.escape(str(audit['policy'].get('file')))}.</p>
</body></html>"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
