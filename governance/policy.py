"""Policy verdicts: compare audit metrics with the thresholds in policies.yaml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml


class PolicyBreach(RuntimeError):
    pass


def load_policies(path: str | None = None) -> dict:
    """The rules in ``path``, or the policies.yaml shipped with Setlist."""
    text = Path(path).read_text() if path else resources.files("setlist.governance").joinpath("policies.yaml").read_text()
    return yaml.safe_load(text)


def lookup(audit: dict, dotted: str):
    cur = audit
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def evaluate(audit: dict, policies: dict) -> list[dict]:
    """One verdict per rule: pass, warn, fail, or not_measured (value missing)."""
    out = []
    for rule in policies.get("rules", []):
        value = lookup(audit, rule["metric"])
        verdict = {"metric": rule["metric"], "value": value, "severity": rule.get("severity", "warn"),
                   "why": rule.get("why", "")}
        if "max" in rule:
            verdict["threshold"] = f"<= {rule['max']}"
            breached = value is not None and value > rule["max"]
        else:
            verdict["threshold"] = f">= {rule['min']}"
            breached = value is not None and value < rule["min"]
        verdict["verdict"] = ("not_measured" if value is None else
                              (rule.get("severity", "warn") if breached else "pass"))
        out.append(verdict)
    return out


def enforce(verdicts: list[dict], report: Path | str | None = None) -> None:
    """Raise PolicyBreach naming each failed metric, its value and threshold."""
    failed = [v for v in verdicts if v["verdict"] == "fail"]
    if failed:
        where = f"See the governance report {report}" if report else "See the governance report"
        raise PolicyBreach("governance policy failed: " + "; ".join(
            f"{v['metric']} = {v['value']:.4g} breaks the threshold {v['threshold']}" for v in failed)
            + f". {where}; change the thresholds (governance/policies.yaml, or the file named by "
              "policy.file / $SETLIST_POLICY_FILE) only with sign-off.")
