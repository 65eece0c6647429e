"""Conviction-scaled leverage and risk (seed 003): the first tier whose min_score the score reaches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from executor.risk.profile import ConvictionTier


@dataclass(frozen=True, slots=True)
class TierChoice:
    score: Decimal
    tier: ConvictionTier
    defaulted: bool


def choose_tier(
    score: Decimal | None, default_score: Decimal, tiers: Sequence[ConvictionTier]
) -> TierChoice | None:
    """Tiers are ordered by falling min_score; None means below every tier: skip the trade."""
    used = default_score if score is None else score
    for tier in tiers:
        if used >= tier.min_score:
            return TierChoice(used, tier, score is None)
    return None
