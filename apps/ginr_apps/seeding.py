"""Every random draw of a training run comes from a generator keyed by (seed, step[, position]).

Keys, not a global random state: a resumed run, a run on N processes and a run on one draw the same
numbers at the same step, and a checkpoint needs no random state. What still draws from torch's
global generator (dropout in a model's forward pass) draws after ``seed_step`` has reseeded it
from (seed, step, process) at the start of the step.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["keyed_generator", "keyed_seed", "seed_step", "step_generator"]


def keyed_seed(*key: int) -> int:
    """A 32-bit seed derived from a key such as (seed, step, position), well mixed (``SeedSequence``)."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def keyed_generator(*key: int) -> torch.Generator:
    """A generator seeded from a key such as (seed, step, position in the global batch)."""
    return torch.Generator().manual_seed(keyed_seed(*key))


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one step's (or epoch's) draws for the whole global batch, the same on every process."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def seed_step(seed: int, step: int, rank: int) -> None:
    """Reseed torch's global generators (CPU and every GPU) from (seed, step, process): the dropout
    masks of a step are the same in an uninterrupted and in a resumed run."""
    torch.manual_seed(keyed_seed(seed, step, rank, 0x5EED))
