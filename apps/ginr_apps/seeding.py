"""Every random draw of a training run comes from a generator keyed by (seed, step[, position]).

Keys, not a global random state: a resumed run, a run on N processes and a run on one draw the same
numbers at the same step.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["keyed_generator", "step_generator"]


def keyed_generator(*key: int) -> torch.Generator:
    """A generator seeded from a key such as (seed, step, position in the global batch)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one step's (or epoch's) draws for the whole global batch, the same on every process."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)
