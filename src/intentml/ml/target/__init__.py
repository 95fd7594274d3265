"""Target resolution: which column a request means, with scores and evidence.

`resolve` decides; `evidence` weighs each column; `matching` reads where the sentence
spells names; `vocabulary` (data in `vocabulary.toml`) says what words mean.
"""

from intentml.ml.target.evidence import ColumnFacts
from intentml.ml.target.names import name_key, name_tokens, stem
from intentml.ml.target.resolve import (
    MARGIN,
    MIN_SCORE,
    Candidate,
    TargetChoice,
    TargetResolutionError,
    rank_columns,
    resolve_target,
)

__all__ = [
    "MARGIN",
    "MIN_SCORE",
    "Candidate",
    "ColumnFacts",
    "TargetChoice",
    "TargetResolutionError",
    "name_key",
    "name_tokens",
    "rank_columns",
    "resolve_target",
    "stem",
]
