"""What a stage receives: the logical date, the config, Spark and the lake."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from setlist.config import Config
from setlist.runlog import progress
from setlist.storage import Lake


@dataclass
class StageContext:
    stage: str
    ds: str
    config: Config
    spark: object
    lake: Lake
    stats: dict = field(default_factory=dict)

    def log(self, message: str) -> None:
        progress(self.stage, self.ds, message)

    @property
    def date(self) -> date:
        return date.fromisoformat(self.ds)

    def shift(self, days: int) -> str:
        """The ds ``days`` away from this one (negative = earlier)."""
        return (self.date + timedelta(days=days)).isoformat()
