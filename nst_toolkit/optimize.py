"""The one image-optimisation loop (L-BFGS or Adam), shared by the gatys and improved engines."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
from torch import Tensor

from .errors import DivergedError, NSTError


@dataclass(frozen=True)
class Step:
    """Progress report handed to ``on_step`` after every iteration."""

    iteration: int  # 1-based, counted over all scales
    total: int  # iterations planned over all scales
    losses: Mapping[str, float]  # the named terms and "total", weighted
    image: Tensor = field(repr=False)  # current image, N×3×H×W in [0, 1] (detached copy)
    elapsed: float = 0.0  # seconds since the run started
    scale: int = 0  # index of the current scale (coarse-to-fine), 0 otherwise
    done: float = 0.0  # share of the run's estimated work finished, 0-1 (0: not estimated; count iterations)


LossFn = Callable[[Tensor], Mapping[str, Tensor]]
"""Maps an image to named, already weighted loss terms; their sum is minimised."""

HISTORY_SIZE = 50  # L-BFGS curvature pairs kept (jcjohnson/neural-style's 100 halves with no visible change)
HISTORY_BYTES = 2 * 2**30  # ... at most this much memory for them: print sizes keep fewer pairs


def history_size(numel: int) -> int:
    """L-BFGS pairs to keep for an image of ``numel`` values: :data:`HISTORY_SIZE`, fewer where they would
    need more than :data:`HISTORY_BYTES` (two float32 vectors a pair; 9 pairs at 4096×2304), at least 5."""
    return max(5, min(HISTORY_SIZE, HISTORY_BYTES // (8 * max(1, numel))))


@dataclass
class Carry:
    """An optimiser's state handed from one scale of a coarse-to-fine run to the next.

    Without it each scale's optimiser starts cold: L-BFGS spends its first steps of every scale rebuilding
    its curvature pairs (two tiny steps, then an overshoot), Adam its moment estimates. With it the next
    scale starts from the last one's, resized to the new image (crowsonkb/style-transfer-pytorch carries
    Adam's moments the same way): step vectors are resized as images; Adam's moments are also scaled by
    the ratio r of the pixel counts, because every loss term is a mean over positions (a pixel's gradient
    shrinks as the image grows). L-BFGS's gradient differences are scaled by √r, not r: the finer scale has
    curvature the coarser one never saw, and the more cautious first steps pay (a 512-px run's final loss,
    cold start 0.517: carried with r 0.499, with √r 0.475, unscaled 0.476). Filled by :func:`optimize_image`
    when passed in.
    """

    optimizer: str | None = None
    shape: tuple[int, ...] | None = None  # the image shape the state belongs to
    state: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.optimizer is None


def _resize(v: Tensor, old: tuple[int, ...], new: tuple[int, ...], gain: float) -> Tensor:
    """A flat (or image-shaped) state vector of an image of shape ``old`` resized to ``new``, times ``gain``."""
    import torch.nn.functional as F

    img = v.reshape(old)
    if tuple(old[-2:]) != tuple(new[-2:]):
        img = F.interpolate(img, size=new[-2:], mode="bilinear", align_corners=False)
    return (img * gain).reshape(-1 if v.dim() == 1 else new).contiguous()


def _save_state(opt: torch.optim.Optimizer, optimizer: str, x: Tensor, carry: Carry) -> None:
    st = opt.state[x]
    carry.optimizer, carry.shape = optimizer, tuple(x.shape)
    if optimizer == "lbfgs":
        carry.state = {"dirs": list(st.get("old_dirs") or []), "stps": list(st.get("old_stps") or [])}
    else:
        carry.state = {k: st[k] for k in ("step", "exp_avg", "exp_avg_sq") if k in st}


def _load_state(opt: torch.optim.Optimizer, optimizer: str, x: Tensor, carry: Carry, keep: int) -> None:
    """Give ``opt`` (built on ``x``) the carried state, resized to ``x``'s shape; nothing when it is of another
    optimiser."""
    if carry.empty or carry.optimizer != optimizer or carry.shape is None:
        return
    old, new = carry.shape, tuple(x.shape)
    ratio = math.prod(old[-2:]) / math.prod(new[-2:])  # a pixel's gradient scales with this
    if optimizer == "adam":
        if "exp_avg" not in carry.state:
            return
        opt.state[x] = {"step": carry.state["step"], "exp_avg": _resize(carry.state["exp_avg"], old, new, ratio),
                        "exp_avg_sq": _resize(carry.state["exp_avg_sq"], old, new, ratio * ratio)}
        return
    dirs, stps, ro = [], [], []
    for y, s in list(zip(carry.state["dirs"], carry.state["stps"]))[-keep:]:
        y, s = _resize(y, old, new, math.sqrt(ratio)), _resize(s, old, new, 1.0)
        ys = y.dot(s)
        if ys > 1e-10:
            dirs.append(y)
            stps.append(s)
            ro.append(1.0 / ys)
    if not dirs:
        return
    y = dirs[-1]
    flat = x.numel()
    # n_iter 1 makes the first step take the L-BFGS branch; a zero last step (d·t = 0) adds no pair of two
    # scales' gradients to the memory, so the first direction comes from the carried pairs alone.
    opt.state[x] = {"func_evals": 0, "n_iter": 1, "d": torch.zeros(flat, dtype=x.dtype), "t": 0.0,
                    "old_dirs": dirs, "old_stps": stps, "ro": ro, "H_diag": stps[-1].dot(y) / y.dot(y),
                    "prev_flat_grad": torch.zeros(flat, dtype=x.dtype), "prev_loss": None}


def optimize_image(
    init: Tensor,
    loss_fn: LossFn,
    *,
    iterations: int,
    optimizer: str = "lbfgs",
    lr: float = 1.0,
    on_step: Callable[[Step], None] | None = None,
    step_offset: int = 0,
    total_steps: int | None = None,
    scale_index: int = 0,
    started: float | None = None,
    should_stop: Callable[[list[float]], bool] | None = None,
    clamp_every_step: bool = True,
    carry: Carry | None = None,
    work: tuple[float, float] | None = None,
) -> tuple[Tensor, list[dict[str, float]]]:
    """Minimise ``sum(loss_fn(x).values())`` over the pixels x, starting from ``init``.

    The image stays contiguous (L-BFGS cannot handle a channels_last parameter) and, with
    ``clamp_every_step``, is clamped to [0, 1] after every step. Returns the image with the lowest
    loss seen, which need not be the last. A non-finite loss raises :class:`DivergedError` carrying
    the last finite image. ``should_stop`` sees the list of total losses so far and may end the run early. With
    ``clamp_every_step`` False the iterate may leave [0, 1] between steps (the images reported and
    returned are clamped copies), which keeps L-BFGS's curvature history consistent.
    Returns the final image and the per-iteration loss history. With ``carry``, the optimiser starts from the
    state it holds (a coarser scale's, resized) and leaves its own state there at the end. ``work`` is
    (share of the run's work done before this call, share of one iteration here), for :attr:`Step.done`.
    """
    if iterations <= 0:
        raise NSTError(f"iterations must be positive, not {iterations}")
    if optimizer not in ("lbfgs", "adam"):
        raise NSTError(f"optimizer must be 'lbfgs' or 'adam', not '{optimizer}'")
    started = time.perf_counter() if started is None else started
    total_steps = total_steps or iterations
    x = init.detach().clone().contiguous().requires_grad_(True)
    keep = history_size(x.numel())
    if optimizer == "lbfgs":
        # One L-BFGS iteration per .step() call; the curvature history lives in the optimiser state.
        # No line search: the classic setting of the reference Torch and PyTorch implementations.
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=lr, max_iter=1, history_size=keep, tolerance_grad=-1, tolerance_change=-1
        )
    else:
        opt = torch.optim.Adam([x], lr=lr)
    if carry is not None:
        _load_state(opt, optimizer, x, carry, keep)

    history: list[dict[str, float]] = []
    last: dict[str, Tensor] = {}
    last_good = init.detach().clone()
    best: list = [math.inf, None]  # the lowest loss seen and the image it was measured at

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(x)
        loss = sum(terms.values())
        if torch.isfinite(loss):
            value = float(loss.detach())
            if value < best[0]:
                best[0], best[1] = value, x.detach().clone()
            loss.backward()
        else:  # make L-BFGS see a zero gradient; the check below stops the run
            x.grad = torch.zeros_like(x)
        last.clear()
        last.update({k: v.detach() for k, v in terms.items()})
        last["total"] = loss.detach()
        return loss

    for i in range(iterations):
        opt.step(closure)
        losses = {k: float(v) for k, v in last.items()}
        if not all(math.isfinite(v) for v in losses.values()) or not torch.isfinite(x).all():
            raise DivergedError(
                f"the loss became non-finite at iteration {step_offset + i + 1}", last_good, step_offset + i
            )
        if clamp_every_step:
            with torch.no_grad():
                x.clamp_(0, 1)
        last_good = x.detach().clamp(0, 1)  # a copy, in range whether or not the iterate is
        history.append(losses)
        if on_step is not None:
            on_step(
                Step(
                    iteration=step_offset + i + 1,
                    total=total_steps,
                    losses=losses,
                    image=last_good,
                    elapsed=time.perf_counter() - started,
                    scale=scale_index,
                    done=min(1.0, work[0] + (i + 1) * work[1]) if work else (step_offset + i + 1) / total_steps,
                )
            )
        if should_stop is not None and should_stop([h["total"] for h in history]):
            break
    if carry is not None:
        _save_state(opt, optimizer, x, carry)
    # Each step measures the loss at the image it starts from, so the last image is still unmeasured.
    # L-BFGS without a line search can step uphill at the end; return the best image seen.
    with torch.no_grad():
        final = float(sum(loss_fn(x).values()))
    if best[1] is not None and not final <= best[0]:
        return best[1].clamp(0, 1), history
    return x.detach().clamp(0, 1), history
