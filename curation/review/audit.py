"""Audit of auto-approval: a random share of what the AI approves alone goes back to people.

With `review.auto_approval` on, `curate route` (`routing.plan`) approves records without
review where the AI earned it in their score band. The agreement that earned it was
measured on the records people reviewed, which routing picked because the AI was unsure
there: not the records it now approves. So, per score band (stratified), a share
`review.audit_fraction` of the auto-approved records (at least one) is drawn at random
and sent back to people instead (`audit` metadata, hidden from reviewers; highest
priority). The draw is a hash of the record id: the same records on every run, and a
record once drawn stays an audit record.

Once people decided at least `review.audit_min_decided` audit records of a band, their
agreement with the AI there is the band's audit figure (with a Wilson 95% interval). When
it falls below `auto_approval.min_agreement`, auto-approval turns itself off in that band:
its records lose `approved_by: auto` and wait for people, and `curate route`, the run
manifest and the dashboard say so. It comes back only when the audit figure recovers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from curation.config import ReviewConfig

AUDITED = "yes"  # the `audit` metadata value of an audit record


@dataclass
class BandAudit:
    """One score band's audit: audit records people decided, how many matched the AI."""

    band: str
    drawn: int  # audit records in the band, decided or not
    decided: int
    agreed: int
    ci95: tuple[float, float] | None
    off: bool

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.decided if self.decided else None


@dataclass
class Audit:
    """What the audit changes in a route plan, and why."""

    auto: pd.Series  # bool: approved without review, after the audit
    audit: pd.Series  # bool: audit records (sent back to people)
    new: int  # audit records drawn by this run
    bands: dict[str, BandAudit] = field(default_factory=dict)
    threshold: float = 0.0
    min_decided: int = 1

    @property
    def off(self) -> list[str]:
        return sorted(band for band, item in self.bands.items() if item.off)

    def lines(self) -> list[str]:
        """Human-readable lines for `curate route`."""
        lines = []
        if self.new:
            lines.append(f"  audit: {self.new} auto-approved records sent back to people")
        for band, item in sorted(self.bands.items()):
            if not item.decided:
                lines.append(
                    f"  audit {band}: {item.drawn} audit records, none decided by people yet"
                )
                continue
            low, high = item.ci95 or (float("nan"), float("nan"))
            figure = (
                f"people agreed with the AI on {item.agreement:.0%} (95% CI {low:.0%}-"
                f"{high:.0%}) of {item.decided} audited records"
            )
            if item.off:
                lines.append(
                    f"  auto-approval OFF in score band {band}: {figure}, below "
                    f"{self.threshold:.0%}"
                )
            elif item.decided < self.min_decided:
                lines.append(f"  audit {band}: {figure} (too few to act on: {self.min_decided})")
            else:
                lines.append(f"  audit {band}: {figure}; auto-approval stays on")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """For the run manifest (`review.route.<dataset>.audit`)."""
        return {
            "threshold": self.threshold,
            "min_decided": self.min_decided,
            "drawn_now": self.new,
            "off_bands": self.off,
            "bands": {
                band: {
                    "drawn": item.drawn,
                    "decided": item.decided,
                    "agreed": item.agreed,
                    "agreement": item.agreement,
                    "ci95": list(item.ci95) if item.ci95 else None,
                    "off": item.off,
                }
                for band, item in sorted(self.bands.items())
            },
        }


def wilson(agreed: int, total: int) -> tuple[float, float] | None:
    """Wilson 95% interval of a share (None without data)."""
    if total == 0:
        return None
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(agreed, total, alpha=0.05, method="wilson")
    return round(float(low), 4), round(float(high), 4)


def _order(record_id: str) -> str:
    """A random but fixed rank of a record (the audit draw)."""
    return hashlib.sha256(f"audit:{record_id}".encode()).hexdigest()


def audit(frame: pd.DataFrame, auto: pd.Series, band: pd.Series, review: ReviewConfig) -> Audit:
    """Turn auto-approval off where the audit failed, and draw new audit records.

    `frame`: `records.decisions(...)` indexed by record id (with `audit` metadata,
    `human_decided`, `human_outcome`, `ai_outcome`); `auto` and `band` from `routing.plan`.
    """
    policy = review.auto_approval
    flagged = frame.get("audit", pd.Series(None, index=frame.index)) == AUDITED
    decided = flagged & frame["human_decided"]
    agreed = decided & (frame["human_outcome"] == frame["ai_outcome"])
    bands: dict[str, BandAudit] = {}
    for name in sorted(set(band[flagged])):
        in_band = band == name
        n, k = int((decided & in_band).sum()), int((agreed & in_band).sum())
        bands[name] = BandAudit(
            band=name,
            drawn=int((flagged & in_band).sum()),
            decided=n,
            agreed=k,
            ci95=wilson(k, n),
            off=n >= review.audit_min_decided and k / n < policy.min_agreement,
        )
    off = [name for name, item in bands.items() if item.off]
    auto = auto & ~flagged & ~band.isin(off)
    drawn = pd.Series(False, index=frame.index)
    if policy.enabled and review.audit_fraction > 0:
        for name in sorted(set(band[auto])):
            pool = auto & (band == name)
            already = int((flagged & (band == name)).sum())
            wanted = math.ceil(review.audit_fraction * (int(pool.sum()) + already))
            ranked = sorted(pool[pool].index, key=_order)
            drawn.loc[ranked[: max(0, wanted - already)]] = True
    for name in sorted(set(band[drawn])):
        item = bands.setdefault(name, BandAudit(name, 0, 0, 0, None, False))
        item.drawn += int((drawn & (band == name)).sum())
    return Audit(
        auto=auto & ~drawn,
        audit=flagged | drawn,
        new=int(drawn.sum()),
        bands=bands,
        threshold=policy.min_agreement,
        min_decided=review.audit_min_decided,
    )
