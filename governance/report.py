"""The governance report: one self-contained HTML page for a governance analyst.

Verdicts first, then each chart with a one-line plain-language reading.
Charts are matplotlib PNGs embedded as base64, so the page opens anywhere,
offline, as a single file.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


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
    xs, ys = lz["item_share"], lz["exposure_share"]
    for x, y in zip(xs, ys):
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
    best, worst = max(vals), min(vals)
    ratio = group["ratio"]["ndcg@10"] if group.get("ratio") else None
    hidden = sum(1 for v in group["groups"].values() if v["suppressed"])
    if len(shown) == 1:
        return _png(fig), (f"Only the {names[0]} group has enough evaluated listeners to show "
                           f"(NDCG@10 {vals[0]:.2f}); {hidden} smaller group(s) are hidden, so no comparison is possible.")
    reading = (f"By {group['attribute'].replace('_', ' ')}, the worst-served group gets "
               f"{100 * (ratio if ratio is not None else worst / best):.0f}% of the ranking quality of the best-served group"
               + (f"; {sum(1 for v in group['groups'].values() if v['suppressed'])} group(s) too small to show."
                  if any(v["suppressed"] for v in group["groups"].values()) else "."))
    return _png(fig), reading


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c, _ in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return html.escape("" if v is None else str(v))


def write_governance_html(audit: dict, path: Path) -> Path:
    ex, fair = audit["exposure"], audit["fairness"]
    verdicts = audit["policy"]["verdicts"]
    colour = {"pass": "#27ae60", "warn": "#e67e22", "fail": "#c0392b", "not_measured": "#7f8c8d"}
    vrows = "".join(
        f"<tr><td><span class='pill' style='background:{colour[v['verdict']]}'>{v['verdict'].replace('_', ' ')}</span></td>"
        f"<td>{html.escape(v['metric'])}</td><td>{_fmt(v['value'])}</td><td>{html.escape(v['threshold'])}</td>"
        f"<td>{html.escape(v['why'])}</td></tr>" for v in verdicts)
    sections = []
    for title, (img, reading) in (("Who gets exposure: Lorenz curve of artists", lorenz_chart(ex)),
                                  ("Majors, independents and self-released artists", label_kind_chart(ex))):
        sections.append(f"<h2>{title}</h2><p class='reading'>{html.escape(reading)}</p>"
                        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{img}'>")
    for attr, group in fair.get("listener_groups", {}).items():
        chart = group_chart(group)
        title = f"Ranking quality by listener {attr.replace('_', ' ')}"
        if chart is None:
            sections.append(f"<h2>{title}</h2><p class='reading'>Every group has fewer than "
                            f"{audit['min_group_size']} evaluated listeners, so none is shown.</p>")
            continue
        sections.append(f"<h2>{title}</h2><p class='reading'>{html.escape(chart[1])}</p>"
                        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{chart[0]}'>")
    if not fair.get("listener_groups"):
        sections.append("<h2>Ranking quality by listener group</h2><p class='reading'>No reranker evaluation "
                        "is available yet (the model trains once a day of outcomes exists).</p>")
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
body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 960px; margin: 2em auto; color: #222; padding: 0 1em; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }}
.sub {{ color: #666; margin-top: 0; }} .reading {{ font-size: 1.05em; background: #f6f8fa; padding: 0.5em 0.8em; border-left: 4px solid #2980b9; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.5em 0; }} th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; }}
.pill {{ color: white; padding: 2px 8px; border-radius: 10px; font-size: 0.85em; }}
img {{ max-width: 100%; }} .kpis {{ display: flex; gap: 1em; flex-wrap: wrap; }}
.kpi {{ background: #f6f8fa; padding: 0.6em 1em; border-radius: 6px; }} .kpi b {{ display: block; font-size: 1.4em; }}
</style></head><body>
<h1>Governance report — {audit['ds']}</h1>
<p class="sub">Tonight's playlists: who they expose, and whether every group of listeners is served equally well.</p>
<h2>Summary of verdicts</h2><p class="reading">{headline}</p>
<table><thead><tr><th>verdict</th><th>metric</th><th>value</th><th>threshold</th><th>why it matters</th></tr></thead><tbody>{vrows}</tbody></table>
<div class="kpis">
<div class="kpi"><b>{ex['playlists']:,}</b>listeners served</div>
<div class="kpi"><b>{ex['artists_exposed']:,} / {ex['artists_in_catalogue']:,}</b>artists shown at least once</div>
<div class="kpi"><b>{ex['artist_gini']:.2f}</b>Gini of artist exposure</div>
<div class="kpi"><b>{100 * ex['top_artist_share']:.1f}%</b>exposure of the most exposed artist</div>
</div>
{''.join(sections)}
<h2>Most exposed artists</h2>{top}
<h2>Most exposed labels</h2>{labels}
<h2>How to read this report</h2>
<p>Exposure counts each playlist slot with weight 1/log2(1 + position): the first track counts 1, the third 0.5,
the fifteenth 0.25, because listeners reach later tracks less often. Listener groups with fewer than
{audit['min_group_size']} evaluated listeners are never shown. Ranking quality is NDCG@10 of the reranker on listeners
held out from training, measured on what they played next.</p>
<h2>Inputs (Delta table versions, for reproduction by time travel)</h2><ul>{inputs}</ul>
</body></html>"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
