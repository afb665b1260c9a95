"""What keeps a run's work: termination signals turned into a clean stop, and NaN/Inf guards.

* ``on_termination()``: Ctrl-C (SIGINT) and SIGTERM (a scheduler's pre-emption, ``kill``) ask the
  run to stop; ``stop_if_asked()``, called between two steps, then raises ``Terminated`` (a
  ``KeyboardInterrupt``), and the run stops with a checkpoint of a whole step, never of half of
  one. A second Ctrl-C stops at once (no checkpoint); a repeated SIGTERM changes nothing (SIGKILL
  is the way to stop at once). Under
  ``accelerate launch`` the training process also asks the kernel for SIGTERM when the launcher
  dies (Linux ``PR_SET_PDEATHSIG``): the launcher does not forward signals, and without this a
  ``kill`` of the launcher would leave training running to its end.
* ``step_is_finite``: whether a step's loss and gradient norm are finite on every process, checked
  before the optimiser applies them (a non-finite update is never applied).
* ``check_finite``: refuses a model with a NaN or Inf weight before it is saved or published.
* ``check_outcome``: refuses to write or replace the model of a run that ended with a non-finite score or
  skipped most of its steps as non-finite.
* ``run_app``: an app's known errors, and a write that a full disk or a read-only folder refused, as one line
  naming the file and what to do.
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import signal
import sys

import torch

__all__ = [
    "NonFiniteError",
    "Terminated",
    "check_finite",
    "check_outcome",
    "non_finite_step",
    "on_termination",
    "run_app",
    "step_is_finite",
    "stop_if_asked",
    "unwritable",
]


class Terminated(KeyboardInterrupt):
    """The run received SIGTERM."""


class NonFiniteError(Exception):
    """A NaN or Inf loss, gradient or weight; the message names the step and what to do."""


_asked: list[str] = []


def _ask(signum, frame) -> None:
    if _asked and signum == signal.SIGINT:  # Ctrl-C twice: stop now
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Terminated("SIGINT (again)")
    if not _asked:  # a repeated SIGTERM (a launcher's death can bring two) changes nothing: SIGKILL stops at once
        _asked.append(signal.Signals(signum).name)


def stop_if_asked() -> None:
    """Raise ``Terminated`` if a SIGINT or SIGTERM arrived (call it between two training steps)."""
    if _asked:
        raise Terminated(_asked[0])


def on_termination() -> None:
    """Let SIGINT and SIGTERM stop the run between two steps; die with the ``accelerate launch``
    process that started us."""
    signal.signal(signal.SIGTERM, _ask)
    signal.signal(signal.SIGINT, _ask)
    launched = "ACCELERATE_MIXED_PRECISION" in os.environ or "TORCHELASTIC_RUN_ID" in os.environ
    if launched and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # not glibc: the launcher's death goes unnoticed
            pass


def step_is_finite(accelerator, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
    """Whether ``loss`` and ``grad_norm`` are finite on every process (one small all-reduce when
    there are several). With an fp16 gradient scaler, inf gradients are its business, not an error."""
    bad = ~torch.isfinite(loss.detach().float())
    if grad_norm is not None and accelerator.scaler is None:
        bad = bad | ~torch.isfinite(torch.as_tensor(grad_norm, device=loss.device).float())
    bad = bad.to(torch.float32).reshape(1)
    if accelerator.num_processes > 1:
        bad = accelerator.reduce(bad, reduction="sum")
    return not bool(bad.item())


def check_finite(module: torch.nn.Module, what: str) -> None:
    """Raise ``NonFiniteError`` if a parameter or buffer of ``module`` holds NaN or Inf."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"{what}: {name} holds NaN or Inf")


def check_outcome(score: float, label: str, steps: int, skipped: int, kept: str, remedy: str) -> None:
    """Raise ``NonFiniteError`` for a run that ended with a non-finite test ``score`` or skipped more than half of
    its ``steps`` (``skipped`` non-finite ones): its model is neither written nor published, and ``kept`` (a
    sentence) says what stays."""
    if math.isfinite(score) and 2 * skipped <= steps:
        return
    raise NonFiniteError(
        f"the run ended with a test {label} of {score:.4g} after skipping {skipped} of its {steps} steps as "
        f"non-finite: its model is not written, {kept}. {remedy}"
    )


def non_finite_step(step: int, loss: torch.Tensor, last_checkpoint, allowed: int, remedy: str) -> NonFiniteError:
    """The error that stops a run at a non-finite ``step``: what happened, what was kept, what to do."""
    kept = f"the last complete checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written yet"
    return NonFiniteError(
        f"step {step}: the loss ({loss.item():.4g}) or the gradient is not finite (NaN or Inf), "
        f"{'for more than ' + str(allowed) + ' steps' if allowed else 'so the run stopped'} before applying it; "
        f"nothing was overwritten and {kept}. {remedy}"
    )


UNWRITABLE = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, getattr(errno, "EDQUOT", errno.ENOSPC)}


def unwritable(error: OSError) -> str:
    """One line for a write that a full disk or a read-only folder refused: the path and what to do."""
    path = error.filename or "a file"
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"cannot write {path}: {error.strerror}; free space on that disk (or choose another --output-dir)"
    return f"cannot write {path}: {error.strerror}; choose a writable --output-dir (or make that folder writable)"


def run_app(main, errors: tuple[type[BaseException], ...] = ()) -> None:
    """A training app's console entry: ``main()``, with its known errors (and ``errors``) as one line
    and Ctrl-C / SIGTERM as a plain stop (the checkpoint is already saved)."""
    from .checkpoints import CheckpointError, InputsChangedError, RunLockedError
    from .config import ConfigError

    try:
        main()
    except (NonFiniteError, CheckpointError, InputsChangedError, RunLockedError, ConfigError, *errors) as error:
        raise SystemExit(f"error: {error}") from None
    except OSError as error:
        if error.errno not in UNWRITABLE:
            raise
        raise SystemExit(f"error: {unwritable(error)}") from None
    except KeyboardInterrupt as stop:
        raise SystemExit(f"stopped by {stop or 'Ctrl-C'}") from None
