"""The content budget of `nst train-fast`: the style weight steered while a network grown from an AdaIN model
trains, so that its pictures stay at a set fraction of the start's (adain's) distance to the photos.

No fixed style weight suits every painting (docs/training-notes.md, "A content budget"); the start is adain with
the painting, so how far the network has drifted towards the photos is measurable during training.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ... import losses

PROBE_PHOTOS = 4  # training photos the budget measures on
STEER_EVERY = 25  # steps between two measurements
# log-change of the style weight per unit of the distance ratio's error: about half of what one measured slope
# asks (Kazusa Sea Route: the ratio went 0.78 → 0.84 → 0.97 at style weight 4 → 5 → 8, about 0.29 per unit
# of log weight), since a new weight takes some steps to show.
STEER_GAIN = 2.0
STEP_BOUNDS = (0.8, 1.25)  # the most one check may change the weight by
WEIGHT_BOUNDS = (0.5, 4.0)  # the steered weight stays within these multiples of --style-weight


def probe_photos(images: Sequence[Tensor], n: int = PROBE_PHOTOS) -> list[Tensor]:
    """``n`` of ``images`` (uint8 C×H×W, as a CropSampler keeps them) spread over the list, float32 1×3×H×W."""
    idx = sorted({i * len(images) // n for i in range(n)})
    return [images[i].float().unsqueeze(0) / 255.0 for i in idx]


class ContentBudget:
    """Steers a style weight: every :data:`STEER_EVERY` steps from a third of the run, the model's distance to the
    probe photos as a fraction of the start's; the weight is multiplied by exp(gain · (budget − fraction)).

    ``render(model, photo)`` is the model's picture; ``features(image)`` the loss network's features of the layers
    the distance sums over (unit-normalised channel vectors, :func:`nst_toolkit.losses.unit_feature_distance`).
    """

    def __init__(self, budget: float, style_weight: float, steps: int, start: nn.Module, photos: list[Tensor],
                 render: Callable[[nn.Module, Tensor], Tensor], features: Callable[[Tensor], dict[str, Tensor]]):
        self.budget, self.base_weight, self.weight = budget, style_weight, style_weight
        self.first = steps // 3
        self.photos, self.render, self.features = photos, render, features
        with torch.no_grad():
            self.photo_feats = [features(p) for p in photos]
        self.history: list[list[float]] = []
        self.start_distance = self.distance(start)

    def distance(self, model: nn.Module) -> float:
        """Mean over the probe photos of the summed unit-normalised feature distance of ``model``'s picture."""
        was_training = model.training
        model.eval()
        total = 0.0
        with torch.no_grad():
            for p, fp in zip(self.photos, self.photo_feats):
                fy = self.features(self.render(model, p).clamp(0, 1))
                total += float(sum(losses.unit_feature_distance(fy[k], fp[k]).mean() for k in fp))
        model.train(was_training)
        return total / len(self.photos)

    def due(self, step: int) -> bool:
        """Whether ``step`` is a check not made yet (a resumed run does not repeat its checkpoint's last one)."""
        return (step >= self.first and (step - self.first) % STEER_EVERY == 0
                and not any(h[0] == step for h in self.history))

    def steer(self, step: int, model: nn.Module) -> None:
        ratio = self.distance(model) / max(self.start_distance, 1e-12)
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # every rank steers alike
            t = torch.tensor([ratio])
            if torch.distributed.get_backend() == "nccl":
                t = t.cuda()
            torch.distributed.all_reduce(t)
            ratio = float(t) / torch.distributed.get_world_size()
        factor = min(max(math.exp(STEER_GAIN * (self.budget - ratio)), STEP_BOUNDS[0]), STEP_BOUNDS[1])
        lo, hi = (b * self.base_weight for b in WEIGHT_BOUNDS)
        self.weight = min(max(self.weight * factor, lo), hi)
        self.history.append([step, round(ratio, 4), round(self.weight, 4)])

    def metadata(self) -> dict[str, Any]:
        return {"budget": self.budget, "start_distance": self.start_distance, "history": self.history,
                "style_weight": self.weight}

    def restore(self, meta: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's ``style_control`` metadata: its weight and its checks."""
        w = meta.get("style_weight")
        if isinstance(w, (int, float)) and math.isfinite(w) and w > 0:
            self.weight = float(w)
        if isinstance(meta.get("history"), list):
            self.history = list(meta["history"])
