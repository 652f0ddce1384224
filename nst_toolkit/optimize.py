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


LossFn = Callable[[Tensor], Mapping[str, Tensor]]
"""Maps an image to named, already weighted loss terms; their sum is minimised."""


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
) -> tuple[Tensor, list[dict[str, float]]]:
    """Minimise ``sum(loss_fn(x).values())`` over the pixels x, starting from ``init``.

    The image stays contiguous (L-BFGS cannot handle a channels_last parameter) and, with
    ``clamp_every_step``, is clamped to [0, 1] after every step. Returns the image with the lowest
    loss seen, which need not be the last. A non-finite loss raises :class:`DivergedError` carrying
    the last finite image. ``should_stop`` sees the list of total losses so far and may end the run early. With
    ``clamp_every_step`` False the iterate may leave [0, 1] between steps (the images reported and
    returned are clamped copies), which keeps L-BFGS's curvature history consistent.
    Returns the final image and the per-iteration loss history.
    """
    if iterations <= 0:
        raise NSTError(f"iterations must be positive, not {iterations}")
    if optimizer not in ("lbfgs", "adam"):
        raise NSTError(f"optimizer must be 'lbfgs' or 'adam', not '{optimizer}'")
    started = time.perf_counter() if started is None else started
    total_steps = total_steps or iterations
    x = init.detach().clone().contiguous().requires_grad_(True)
    if optimizer == "lbfgs":
        # One L-BFGS iteration per .step() call; the curvature history lives in the optimiser state.
        # No line search: the classic setting of the reference Torch and PyTorch implementations.
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=lr, max_iter=1, history_size=50, tolerance_grad=-1, tolerance_change=-1
        )
    else:
        opt = torch.optim.Adam([x], lr=lr)

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
                )
            )
        if should_stop is not None and should_stop([h["total"] for h in history]):
            break
    # Each step measures the loss at the image it starts from, so the last image is still unmeasured.
    # L-BFGS without a line search can step uphill at the end; return the best image seen.
    with torch.no_grad():
        final = float(sum(loss_fn(x).values()))
    if best[1] is not None and not final <= best[0]:
        return best[1].clamp(0, 1), history
    return x.detach().clamp(0, 1), history
