"""Huang & Belongie 2017: arbitrary style in one pass — VGG encoder, AdaIN at relu4_1, trained decoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import colour, losses
from ..checkpoints import load_model, model_dirs, resolve_model_file
from ..data import CropSampler
from ..errors import NSTError
from ..images import resize_longest
from ..io import check_finite_output, run_padded
from ..nets import AdaINDecoder, init_seeded
from ..optimize import Step
from ..options import option, to_dict
from ..styles import StyleSet, StylesLike, as_style_set, blend_weights, check_image_tensor, prepare_mask
from ..training import TrainingTask
from ..vgg import VGGFeatures, shared_or_new
from .base import EngineBase, check_non_negative, check_positive, require_styles, target_scale
from .registry import EngineSpec, register

ENGINE = "adain"
ENCODER_LAYER = "relu4_1"  # paper, sec. 6.1
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # paper, sec. 6.2
MULTIPLE = 8  # three poolings before relu4_1


@dataclass(frozen=True)
class AdaINTrainConfig:
    """Defaults of `nst train-adain`; each value's source is in its comment."""

    size: int = option(256, "Training crop size, px.")  # paper: 256 crops of images resized to 512
    batch_size: int = option(8, "Content/style pairs per step.")  # paper, sec. 6.1
    steps: int = option(20000, "Training steps in all (a resumed run continues up to this).")  # paper: 160k
    # Departure: first train the decoder to invert the encoder (target = content features plus a
    # pixel loss, no style), which converges fast, then switch to the AdaIN objective.
    warmup_steps: int = option(1000, "Steps of plain encoder inversion before the AdaIN objective.")
    lr: float = option(1e-4, "Adam learning rate.")  # paper's reference code
    lr_decay: float = option(5e-5, "Inverse-time decay: lr / (1 + decay * step).")  # reference code
    # Losses are relative to their targets' mean square (as in the other engines), so this is not
    # the paper's λ = 10 but plays its role.
    style_weight: float = option(10.0, "Weight of the style (mean/std) loss.")
    pixel_weight: float = option(1.0, "Weight of the pixel loss during the warm-up.")
    max_grad_norm: float | None = option(None, "Clip the gradient norm to this (0 or unset: off).")  # paper: none
    seed: int = option(0, "Seed of the initial weights and the crops.")
    checkpoint_every: int = option(1000, "Write a checkpoint and a preview every N steps (0: only at the end).")
    # The decoder only fits the encoder it was trained with.
    vgg_weights: str = option("bundled", "VGG-19 encoder weights: bundled | torchvision | a file.")

    def validate(self) -> None:
        check_positive(size=self.size, batch_size=self.batch_size, steps=self.steps, lr=self.lr)
        check_non_negative(style_weight=self.style_weight, warmup_steps=self.warmup_steps, lr_decay=self.lr_decay,
                           pixel_weight=self.pixel_weight, checkpoint_every=self.checkpoint_every)

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass(frozen=True)
class AdaINConfig:
    """Defaults of `nst adain`."""

    model: str = option("default", "Decoder: a name from `nst models` or a .safetensors path.", short="-m")
    alpha: float = option(1.0, "Content-style trade-off, 0 (content) ... 1 (full style).")  # paper, sec. 7.1
    size: int = option(512, "Longest side of the content (output), px.")
    style_size: int = option(512, "Longest side of each style image, px.")
    preserve_color: str = colour.colour_option()  # the paper (sec. 7.1) uses histogram matching

    def validate(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise NSTError(f"alpha must lie in [0, 1], not {self.alpha}")
        check_positive(size=self.size, style_size=self.style_size)
        colour.check_mode(self.preserve_color)

    def to_dict(self) -> dict:
        return to_dict(self)


class AdaINTask(TrainingTask):
    engine = ENGINE

    def __init__(self, cfg: AdaINTrainConfig, content: CropSampler, style: CropSampler, device: torch.device,
                 vgg: VGGFeatures | None = None):
        cfg.validate()
        self.cfg, self.content, self.style, self.device = cfg, content, style, device
        self.model = init_seeded(AdaINDecoder(), cfg.seed).to(device)
        self.vgg = (vgg or VGGFeatures(STYLE_LAYERS, cfg.vgg_weights)).to(device)

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        cfg = self.cfg
        c = self.content.batch(cfg.batch_size, cfg.seed, step).to(self.device)
        warm = step < cfg.warmup_steps
        with torch.no_grad():
            fc = self.vgg(c, [ENCODER_LAYER])[ENCODER_LAYER]
            if warm:
                t, fs = fc, None
            else:
                s = self.style.batch(cfg.batch_size, cfg.seed + 1, step).to(self.device)
                fs = self.vgg(s, STYLE_LAYERS)
                t = losses.adain(fc, *losses.mean_std(fs[ENCODER_LAYER]))
        g = net(t)
        fg = self.vgg(g, STYLE_LAYERS)
        terms = {"content": losses.content_loss(fg[ENCODER_LAYER], t) / target_scale(t)}
        if warm:
            terms["pixel"] = cfg.pixel_weight * F.mse_loss(g, c) / target_scale(c)
        else:
            style = sum(
                losses.mean_std_loss(fg[k], fs[k]) / target_scale(losses.mean_std(fs[k])[1]) for k in STYLE_LAYERS
            )
            terms["style"] = cfg.style_weight * style / len(STYLE_LAYERS)
        return terms

    def metadata(self, step: int) -> dict[str, Any]:
        return {
            "engine": ENGINE,
            "architecture": self.model.architecture(),
            "encoder": {"weights": self.cfg.vgg_weights, "layer": ENCODER_LAYER},
            "training": self.cfg.to_dict(),
            "step": step,
            "data": {
                "content": self.content.source, "content_images": len(self.content), "content_skipped": self.content.skipped,
                "style": self.style.source, "style_images": len(self.style), "style_skipped": self.style.skipped,
            },
        }


def resolve_decoder(name_or_path: str) -> Path:
    """A shipped or local decoder name, or a file path → the file."""
    return resolve_model_file(name_or_path, model_dirs(ENGINE), "AdaIN decoder")


def load_decoder(path: str | Path) -> tuple[AdaINDecoder, dict[str, Any]]:
    return load_model(path, ENGINE, "AdaINDecoder", lambda a: AdaINDecoder(float(a.get("feature_scale", 0.01))))


class AdaINEngine(EngineBase):
    """Encoder (shared VGG-19 to relu4_1) → AdaIN → trained decoder. Style statistics can be computed once."""

    name = ENGINE

    def __init__(self, config: AdaINConfig = AdaINConfig(), decoder: AdaINDecoder | None = None,
                 vgg: VGGFeatures | None = None):
        config.validate()
        self.config = config
        if decoder is None:
            decoder, self.meta = load_decoder(resolve_decoder(config.model))
            weights = self.meta.get("encoder", {}).get("weights", "bundled")
        else:
            self.meta, weights = {}, "bundled"
        self.decoder = decoder.eval()
        self.vgg = shared_or_new(vgg, [ENCODER_LAYER], weights)

    def encode(self, image: Tensor) -> Tensor:
        return self.vgg(image, [ENCODER_LAYER])[ENCODER_LAYER]

    @torch.no_grad()
    def style_stats(self, style: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, std) of a style image's relu4_1 features, as given (no resizing, no colour change)."""
        check_image_tensor(style, "style")
        self.vgg.to(style.device)
        return losses.mean_std(self.encode(style))

    def encode_styles(self, styles: StyleSet) -> list[tuple[Tensor, Tensor]]:
        """Each style resized to ``style_size`` and encoded to its statistics."""
        return [self.style_stats(resize_longest(s, self.config.style_size)) for s in styles.images]

    @torch.no_grad()
    def stylize_with_stats(
        self,
        content: Tensor,
        stats: Sequence[tuple[Tensor, Tensor]],
        weights: Sequence[float] | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Stylise ``content`` with precomputed style statistics (no colour preservation here).

        Several styles are interpolated with ``weights`` (the rule of :mod:`nst_toolkit.styles`). With
        ``mask`` (two styles) the first style goes where the mask is white and the second where it is
        black, each region normalised with its own content statistics.
        """
        check_image_tensor(content, "content")
        if not stats:
            raise NSTError("at least one style is needed")
        cfg = self.config
        self.vgg.to(content.device)
        self.decoder.to(content.device)
        m = prepare_mask(mask, content) if mask is not None else None
        if m is not None and len(stats) != 2:
            raise NSTError(f"a mask needs exactly two styles (foreground, background), got {len(stats)}")
        w = blend_weights(weights, len(stats)) if m is None else (1.0, 1.0)

        def run(padded: Tensor) -> Tensor:
            fc = self.encode(padded)
            if m is None:
                t = sum(wi * losses.adain(fc, mu, sd) for wi, (mu, sd) in zip(w, stats))
            else:
                mp = F.pad(m, (0, padded.shape[-1] - m.shape[-1], 0, padded.shape[-2] - m.shape[-2]), mode="replicate")
                mf = F.interpolate(mp, size=fc.shape[-2:], mode="nearest")
                t = masked_adain(fc, mf, stats[0]) * mf + masked_adain(fc, 1 - mf, stats[1]) * (1 - mf)
            t = cfg.alpha * t + (1 - cfg.alpha) * fc  # paper, eq. 10
            return self.decoder(t)

        return check_finite_output(run_padded(run, content, MULTIPLE), f"AdaIN decoder {cfg.model}")

    def stylize(self, content: Tensor, styles: StylesLike, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        styles = require_styles(as_style_set(styles), self.name).to(content.device)
        return colour.preserve(self.config.preserve_color, content, styles,
                               lambda c, s: self.stylize_with_stats(c, self.encode_styles(s), s.weights, s.mask))

    def bind(self, styles: StylesLike) -> Callable[[Tensor], Tensor]:
        """Without colour preservation the style statistics do not depend on the content: encode them once."""
        styles = require_styles(as_style_set(styles), self.name)
        if self.config.preserve_color != "none":
            return super().bind(styles)
        cache: dict[torch.device, list] = {}

        def run(content: Tensor) -> Tensor:
            if content.device not in cache:
                cache[content.device] = self.encode_styles(styles.to(content.device))
            mask = styles.mask.to(content.device) if styles.mask is not None else None
            return self.stylize_with_stats(content, cache[content.device], styles.weights, mask)

        return run


register(EngineSpec(
    name=ENGINE, config=AdaINConfig, build=AdaINEngine, kind="one-pass", model_kind=ENGINE,
    summary="Arbitrary style transfer in one pass (AdaIN, Huang & Belongie 2017).",
))


def masked_adain(features: Tensor, mask: Tensor, stats: tuple[Tensor, Tensor], eps: float = losses.EPS) -> Tensor:
    """AdaIN with the content statistics taken inside ``mask`` (N×1×h×w, 0/1) only."""
    area = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (features * mask).sum(dim=(2, 3), keepdim=True) / area
    var = ((features - mean).square() * mask).sum(dim=(2, 3), keepdim=True) / area
    return (features - mean) / (var + eps).sqrt() * stats[1] + stats[0]
