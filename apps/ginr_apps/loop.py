"""The one training loop of the apps: ``apps/train.py`` (an INR) and ``apps/train_prior.py`` (a latent prior).

A run subclasses ``TrainingLoop`` and says only what differs: ``prepare`` (a micro-batch's inputs from what the
iterator yields), ``loss`` (its loss), and optionally ``after_step`` (an EMA, say), ``evaluate`` (scores, on the
evaluation cadence) and ``before_pause`` (syncing a run's records before an evaluation or a checkpoint). The
loop owns the rest, the same for both:

* micro-batches and gradient accumulation (``accelerator.accumulate``), autocast, the backward;
* the dropout masks: torch's global generators reseeded from (seed, micro-batch, process) before each one, so a
  resumed run draws the masks an uninterrupted one would;
* the finite check of the loss and the gradient norm on every process, and the NaN policy (skip up to
  ``max_bad_steps`` steps, then stop with what was kept and what to do);
* gradient clipping, the optimiser and learning-rate schedule steps;
* the progress bar, the trackers' scalars, and the cadence of evaluations and checkpoints, whose time is
  excluded from the training time and the time budget;
* the time budget, SIGINT / SIGTERM between steps (with a checkpoint on one process) and the compile timing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast
from tqdm.auto import tqdm

from .checkpoints import RunState, latest_checkpoint, save_checkpoint
from .guards import non_finite_step, step_is_finite, stop_if_asked
from .launch import log_scalars
from .seeding import seed_step

__all__ = ["TrainingLoop", "micro_batch_size"]


def micro_batch_size(batch: int, world: int, accumulation: int) -> int:
    """Items per micro-batch of each process, or ``SystemExit`` naming the settings that do not divide."""
    if batch % world:
        raise SystemExit(f"error: train.batch_size={batch} must be divisible by the {world} processes")
    per_process = batch // world
    if per_process % accumulation:
        raise SystemExit(
            f"error: each of the {world} processes takes {per_process} items a step, which "
            f"train.gradient_accumulation_steps={accumulation} micro-batches cannot split evenly"
        )
    return per_process // accumulation


class TrainingLoop:
    """Train ``model`` with ``optimizer`` from ``state.step`` to ``total_steps`` on an iterable of micro-batches.

    Args:
        accelerator: the run's ``Accelerator`` (``model`` and ``optimizer`` prepared by it).
        state: the run's ``RunState`` (``step`` and ``train_seconds`` advance here; a ``bad_steps`` list, if it
            has one, records the skipped steps).
        checkpoints: the run's checkpoint folder; ``parts`` what a checkpoint holds; ``keep`` how many.
        total_steps, accumulation, seed: the run's steps, micro-batches per step and seed.
        lr_scheduler: stepped after every optimiser step (or None).
        grad_clip: clip the gradient norm to this (None: only measured, for the finite check).
        max_bad_steps: non-finite steps skipped before the run stops; ``remedy`` says what to do then.
        log_every, eval_every, checkpoint_every: the cadences, in steps (``eval_every`` None: no evaluations).
        time_budget_minutes: stop (and finish the run) after this much training time.
        description: the progress bar's label; ``interruptions``: exceptions that stop the run with a checkpoint.
    """

    def __init__(
        self,
        accelerator: Accelerator,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        state: RunState,
        *,
        checkpoints: Path,
        parts: dict[str, Any],
        keep: int,
        total_steps: int,
        accumulation: int,
        seed: int,
        lr_scheduler=None,
        grad_clip: float | None = None,
        max_bad_steps: int = 0,
        remedy: str = "Lower train.lr",
        log_every: int = 10,
        eval_every: int | None = None,
        checkpoint_every: int = 1000,
        time_budget_minutes: float | None = None,
        description: str = "training",
        interruptions: tuple[type[BaseException], ...] = (KeyboardInterrupt,),
    ) -> None:
        self.accelerator, self.model, self.optimizer, self.state = accelerator, model, optimizer, state
        self.checkpoints, self.parts, self.keep = Path(checkpoints), parts, keep
        self.total_steps, self.accumulation, self.seed = total_steps, accumulation, seed
        self.lr_scheduler, self.grad_clip = lr_scheduler, grad_clip
        self.max_bad_steps, self.remedy = max_bad_steps, remedy
        self.log_every, self.eval_every, self.checkpoint_every = log_every, eval_every, checkpoint_every
        self.budget, self.description, self.interruptions = time_budget_minutes, description, interruptions
        self.first_step_seconds: float | None = None  # this process's first step (with compilation, if any)
        self._steps_from: tuple[float, int] | None = None
        self.bar: tqdm | None = None

    # ------------------------------------------------------------------ what a run says
    def prepare(self, item: Any, micro: int) -> Any:
        """The inputs of one micro-batch from what the iterator yielded (after the masks were reseeded)."""
        return item

    def loss(self, batch: Any) -> torch.Tensor:
        """The micro-batch's loss (a scalar; the loop averages the micro-batches of a step)."""
        raise NotImplementedError

    def after_micro(self, item: Any) -> None:
        """After a micro-batch's backward (e.g. recording the files it skipped)."""

    def after_step(self) -> None:
        """After each applied optimiser step (e.g. an EMA of the weights)."""

    def evaluate(self) -> None:
        """On the evaluation cadence (time excluded from training): score, log, keep records in ``state``."""

    def before_pause(self) -> None:
        """Before an evaluation, a checkpoint or an interruption's checkpoint (e.g. syncing records)."""

    def postfix(self) -> dict[str, str]:
        """Extra fields of the progress bar."""
        return {}

    # ------------------------------------------------------------------ the loop
    def checkpoint(self) -> Path:
        """Save the checkpoint of the current step (atomic, marked complete; the last ``keep`` kept)."""
        return save_checkpoint(self.accelerator, self.checkpoints, self.state.step, self.keep, self.parts)

    @property
    def later_steps_seconds(self) -> float | None:
        """Mean seconds per step after this process's first one (training time: evaluations excluded)."""
        if self._steps_from is None or self.state.step <= self._steps_from[1]:
            return None
        return (self.state.train_seconds - self._steps_from[0]) / (self.state.step - self._steps_from[1])

    def run(self, micro_batches: Iterable[Any]) -> None:
        """Train on ``micro_batches`` (``accumulation`` per step, from ``state.step`` on) until the last step, the
        time budget or a stop request. An interruption saves a checkpoint (one process) and is raised again."""
        main = self.accelerator.is_main_process
        self.bar = tqdm(
            total=self.total_steps, initial=self.state.step, disable=not main, desc=self.description, dynamic_ncols=True
        )
        self.model.train()
        try:
            self._loop(micro_batches)
        except self.interruptions as err:  # keep what was trained, then stop
            if self.accelerator.num_processes == 1 and self.state.step > 0:
                self.before_pause()
                self.checkpoint()
                reason = "interrupted" if isinstance(err, KeyboardInterrupt) else f"stopped ({err})"
                print(f"\n{reason}: saved {latest_checkpoint(self.checkpoints)}; continue with --resume", flush=True)
            raise
        finally:
            self.bar.close()

    def _loop(self, micro_batches: Iterable[Any]) -> None:
        accelerator, state, k = self.accelerator, self.state, self.accumulation
        if state.step >= self.total_steps:
            return
        started = time.perf_counter() - state.train_seconds
        step_started, losses = time.perf_counter(), []
        for index, item in enumerate(micro_batches):
            micro = index % k
            seed_step(self.seed, state.step * k + micro, accelerator.process_index)  # the same masks on resume
            batch = self.prepare(item, micro)
            with accelerator.accumulate(self.model):  # gradients synchronised on the last micro-batch only
                with accelerator.autocast():
                    loss = self.loss(batch)
                accelerator.backward(loss)  # divided by the micro-batches: the step's mean
            losses.append(loss.detach())
            self.after_micro(item)
            if micro < k - 1:
                continue
            loss, losses = torch.stack(losses).mean(), []
            lr = self._update(loss)
            state.step += 1
            state.train_seconds = time.perf_counter() - started
            if self.first_step_seconds is None:
                self.first_step_seconds = time.perf_counter() - step_started
                self._steps_from = (state.train_seconds, state.step)
            self.bar.update(1)
            if state.step % self.log_every == 0:
                step_time = (time.perf_counter() - step_started) / self.log_every
                self.log(loss, lr, step_time)
                step_started = time.perf_counter()
            paused = self._pause_if_due()
            started, step_started = started + paused, step_started + paused
            if self._out_of_time():
                self.total_steps = state.step
            if state.step >= self.total_steps:
                break
            stop_if_asked()

    def _update(self, loss: torch.Tensor) -> float:
        """Clip, check, step the optimiser (or skip a non-finite step) and the schedule; the step's lr."""
        params = self.model.parameters()
        if self.grad_clip:
            norm = self.accelerator.clip_grad_norm_(params, self.grad_clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        step = self.state.step + 1
        if step_is_finite(self.accelerator, loss, norm):
            self.optimizer.step()
            self.after_step()
        else:  # never applied: skipped (if the settings allow a few) or the run stops
            bad = getattr(self.state, "bad_steps", None)
            if bad is not None:
                bad.append(step)
            if bad is None or len(bad) > self.max_bad_steps:
                last = latest_checkpoint(self.checkpoints)
                raise non_finite_step(step, loss, last, self.max_bad_steps, self.remedy)
            self.bar.write(f"step {step}: non-finite loss or gradient, update skipped")
        lr = self.optimizer.param_groups[0]["lr"]
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return lr

    def log(self, loss: torch.Tensor, lr: float, step_time: float) -> None:
        """The loss (the mean over processes), lr and step time to the bar and the trackers."""
        value = self.accelerator.reduce(loss, reduction="mean").item()
        self.logged(value)
        self.bar.set_postfix(loss=f"{value:.4f}", **self.postfix(), refresh=False)
        log_scalars(
            self.accelerator, {"train/loss": value, "train/lr": lr, "train/step_seconds": step_time}, self.state.step
        )

    def logged(self, loss: float) -> None:
        """A logged loss (a run may keep them: its learning curve)."""

    def _pause_if_due(self) -> float:
        """Evaluate and checkpoint when due (not at the last step: the run does both at its end); the seconds."""
        step, last = self.state.step, self.state.step >= self.total_steps
        evaluating = self.eval_every is not None and step % self.eval_every == 0 and not last
        saving = step % self.checkpoint_every == 0 and not last
        if not (evaluating or saving):
            return 0.0
        pause = time.perf_counter()
        self.before_pause()
        if evaluating:
            self.evaluate()
            self.model.train()
        if saving:
            self.checkpoint()
        return time.perf_counter() - pause

    def _out_of_time(self) -> bool:
        if self.budget is None:
            return False
        over = self.state.train_seconds > self.budget * 60
        return bool(broadcast(torch.tensor([over], device=self.accelerator.device)).item())
