"""One typed, frozen configuration loaded from a profile YAML.

Only the profile name and the logical date travel through the CLI and the
DAGs; everything else comes from here. Profiles ship in ``setlist/profiles``;
``--profile PATH.yaml`` loads a file of the same shape.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

PROFILES_DIR = Path(__file__).parent / "profiles"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class StorageConfig:
    engine: str = "delta-rs"
    lake_root: str | None = None


@dataclass(frozen=True)
class SparkConfig:
    master: str = "local[2]"
    conf: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FeastConfig:
    project: str = "setlist"
    offline_store: str = "file"
    online_store: str = "sqlite"
    redis_connection: str | None = None


@dataclass(frozen=True)
class AirflowConfig:
    schedule: str = "0 3 * * *"
    retries: int = 2
    retry_delay_minutes: int = 5
    metadata_db: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    late_days: int = 3
    duration_slack_ms: int = 5000
    feature_window_days: int = 28
    short_window_days: int = 7
    emerging_debut_years: int = 2
    emerging_max_listener_pct: float = 0.8
    colistening_k: int = 20
    colistening_max_session_tracks: int = 50
    min_play_ms: int = 30000
    session_gap_minutes: int = 30


@dataclass(frozen=True)
class ModelConfig:
    als_rank: int = 32
    als_reg: float = 0.05
    als_alpha: float = 1.0
    als_max_iter: int = 10
    candidates_per_source: int = 100
    label_horizon_days: int = 1
    xgb_params: dict = field(default_factory=dict)
    promotion_margin: float = 0.0
    validation_share: float = 0.2
    max_training_listeners: int | None = None
    seed: int = 7


@dataclass(frozen=True)
class PlaylistConfig:
    length: int = 20
    max_per_artist: int = 2
    fallback_length: int = 20
    candidates_per_user: int = 100
    shortlist_trees: int = 0
    shortlist_size: int = 0
    long_tail_percentile: float = 0.8
    under_exposed_max_plays_7d: int = 2
    exploration_share: float = 0.0
    experiment: str = "playlist_policy_v1"
    arms: list = field(default_factory=lambda: [{"name": "control", "weight": 1.0, "policy": "control"}])
    sequencing: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyConfig:
    min_group_size: int = 20
    position_weight: str = "log2"
    file: str | None = None


@dataclass(frozen=True)
class ExportConfig:
    pseudonym_secret: str = ""          # HMAC key for per-label listener pseudonyms; required to export
    min_play_ms: int | None = None      # a play earns from this ms_played; None = silver `counts` (pipeline.min_play_ms)


@dataclass(frozen=True)
class Config:
    profile: str
    home: Path
    storage: StorageConfig
    spark: SparkConfig
    feast: FeastConfig
    airflow: AirflowConfig
    pipeline: PipelineConfig
    model: ModelConfig
    playlists: PlaylistConfig
    policy: PolicyConfig
    export: ExportConfig

    # --- the home folder layout -------------------------------------------
    @property
    def lake_root(self) -> str:
        return self.storage.lake_root or str(self.home / "lake")

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    def reports_dir(self, ds: str) -> Path:
        return self.home / "reports" / ds

    def exports_dir(self, ds: str) -> Path:
        return self.home / "exports" / ds


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        def sub(m):
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ValueError(
                f"profile needs environment variable {name}; set it or use --profile local"
            )
        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def _build(cls, data: dict | None, section: str):
    data = data or {}
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in profile section '{section}'; "
                         f"allowed: {sorted(known)}")
    return cls(**data)


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """``--home`` if given, else ``$SETLIST_HOME``, else ``./.setlist``."""
    if home:
        return Path(home).resolve()
    if os.environ.get("SETLIST_HOME"):
        return Path(os.environ["SETLIST_HOME"]).resolve()
    return Path(".setlist").resolve()


def load_config(profile: str | None = None, home: str | os.PathLike | None = None) -> Config:
    """Load a profile by name (``local``, ``cluster``) or by YAML path.

    The profile name defaults to ``$SETLIST_PROFILE``, else ``local``.
    """
    profile = profile or os.environ.get("SETLIST_PROFILE") or "local"
    path = Path(profile) if profile.endswith((".yaml", ".yml")) else PROFILES_DIR / f"{profile}.yaml"
    if not path.exists():
        names = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"profile '{profile}' not found; choose one of {names} or pass a YAML path")
    raw = yaml.safe_load(path.read_text()) or {}
    name = raw.pop("name", path.stem)
    cfg = {k: _expand(v) for k, v in raw.items()}
    sections = {
        "storage": StorageConfig, "spark": SparkConfig, "feast": FeastConfig,
        "airflow": AirflowConfig, "pipeline": PipelineConfig, "model": ModelConfig,
        "playlists": PlaylistConfig, "policy": PolicyConfig, "export": ExportConfig,
    }
    unknown = set(cfg) - set(sections)
    if unknown:
        raise ValueError(f"unknown profile section(s) {sorted(unknown)} in {path}")
    built = {k: _build(cls, cfg.get(k), k) for k, cls in sections.items()}
    if built["storage"].engine not in ("delta-rs", "delta-spark"):
        raise ValueError(f"storage.engine must be delta-rs or delta-spark, got {built['storage'].engine!r}")
    cap = built["model"].max_training_listeners
    if cap is not None and (not isinstance(cap, int) or cap < 2):
        raise ValueError(f"model.max_training_listeners must be null (every usable listener) or an integer of "
                         f"at least 2 (some to train on, some to validate on), got {cap!r} in {path}")
    return Config(profile=name, home=resolve_home(home), **built)
