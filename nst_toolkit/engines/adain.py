"""Huang & Belongie 2017: arbitrary style in one pass — VGG encoder, AdaIN at relu4_1, trained decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import colour, losses
from ..checkpoints import load_model, model_dirs, resolve_model_file
from ..data import CropSampler
from ..errors import NSTError
from ..nets import AdaINDecoder, init_seeded
from ..optimize import Step
from ..training import TrainingTask
from ..vgg import VGGFeatures
from .base import check_image_tensor, check_non_negative, check_positive, run_padded, target_scale

ENGINE = "adain"
ENCODER_LAYER = "relu4_1"  # paper, sec. 6.1
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # paper, sec. 6.2
MULTIPLE = 8  # three poolings before relu4_1


@dataclass(frozen=True)
class AdaINTrainConfig:
    """Defaults of `nst train-adain`; each value's source is in its comment."""

    size: int = 256  # training crop (paper: 256 crops of images resized to 512)
    batch_size: int = 8  # paper, sec. 6.1
    steps: int = 20000  # paper: 160k; see models/README.md for what our shipped decoder got
    # Departure: first train the decoder to invert the encoder (target = content features plus a
    # pixel loss, no style), which converges fast, then switch to the AdaIN objective.
    warmup_steps: int = 1000
    lr: float = 1e-4  # paper's reference code
    lr_decay: float = 5e-5  # reference code: lr / (1 + 5e-5 · step)
    # Losses are relative to their targets' mean square (as in the other engines), so this is not
    # the paper's λ = 10 but plays its role.
    style_weight: float = 10.0
    pixel_weight: float = 1.0  # warm-up only
    max_grad_norm: float | None = None  # no clipping (paper); the decoder trained stably without
    seed: int = 0
    checkpoint_every: int = 1000
    weights: str = "bundled"  # VGG-19 encoder; the decoder only fits the encoder it was trained with

    def validate(self) -> None:
        check_positive(size=self.size, batch_size=self.batch_size, steps=self.steps, lr=self.lr)
        check_non_negative(style_weight=self.style_weight, warmup_steps=self.warmup_steps, lr_decay=self.lr_decay,
                           pixel_weight=self.pixel_weight)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AdaINConfig:
    """Defaults of `nst adain`."""

    model: str = "default"  # shipped decoder name (models/adain/NAME.safetensors) or a path
    alpha: float = 1.0  # content–style trade-off, paper sec. 7.1 (1 = full style)
    preserve_color: str = "none"  # none | luminance | histogram (paper sec. 7.1 uses histogram)
    content_size: int = 512  # longest side of the content (output) image
    style_size: int = 512  # longest side of each style image


class AdaINTask(TrainingTask):
    engine = ENGINE

    def __init__(self, cfg: AdaINTrainConfig, content: CropSampler, style: CropSampler, device: torch.device,
                 vgg: VGGFeatures | None = None):
        cfg.validate()
        self.cfg, self.content, self.style, self.device = cfg, content, style, device
        self.model = init_seeded(AdaINDecoder(), cfg.seed).to(device)
        self.vgg = (vgg or VGGFeatures(STYLE_LAYERS, cfg.weights)).to(device)

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
            "encoder": {"weights": self.cfg.weights, "layer": ENCODER_LAYER},
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


def check_style_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Interpolation weights: one per style, non-negative, summing to 1 (paper sec. 7.1)."""
    if weights is None or len(weights) == 0:
        return [1.0 / n] * n
    if len(weights) != n:
        raise NSTError(f"got {len(weights)} style weights for {n} styles")
    if any(w < 0 for w in weights):
        raise NSTError("style weights must not be negative")
    if abs(sum(weights) - 1.0) > 1e-3:
        raise NSTError(f"style weights must sum to 1, not {sum(weights):g}")
    return [float(w) for w in weights]


def prepare_mask(mask: Tensor, content: Tensor) -> Tensor:
    """A 1×1×H×W mask in [0, 1] at the content's size; refuses other aspect ratios and empty regions."""
    if mask.dim() == 4 and mask.shape[1] == 3:
        mask = mask.mean(dim=1, keepdim=True)
    mh, mw = mask.shape[-2:]
    ch, cw = content.shape[-2:]
    if abs(mh / mw - ch / cw) > 0.02 * (ch / cw):
        raise NSTError(f"mask is {mw}×{mh} px but the content is {cw}×{ch}: their aspect ratios differ")
    mask = F.interpolate(mask, size=(ch, cw), mode="bilinear", align_corners=False)
    fg = (mask > 0.5).float()
    if fg.sum() == 0 or fg.sum() == fg.numel():
        raise NSTError("mask has an empty region: it needs both foreground (white) and background (black) pixels")
    return fg


class AdaINEngine:
    """Encoder (shared VGG-19 to relu4_1) → AdaIN → trained decoder. Style features can be cached."""

    name = ENGINE

    def __init__(self, config: AdaINConfig = AdaINConfig(), decoder: AdaINDecoder | None = None,
                 vgg: VGGFeatures | None = None):
        if not 0.0 <= config.alpha <= 1.0:
            raise NSTError(f"alpha must lie in [0, 1], not {config.alpha}")
        if config.preserve_color not in colour.MODES:
            raise NSTError(f"preserve-color must be one of {', '.join(colour.MODES)}")
        self.config = config
        if decoder is None:
            decoder, self.meta = load_decoder(resolve_decoder(config.model))
            weights = self.meta.get("encoder", {}).get("weights", "bundled")
        else:
            self.meta, weights = {}, "bundled"
        self.decoder = decoder.eval()
        self.vgg = vgg if vgg is not None else VGGFeatures([ENCODER_LAYER], weights)

    def encode(self, image: Tensor) -> Tensor:
        return self.vgg(image, [ENCODER_LAYER])[ENCODER_LAYER]

    @torch.no_grad()
    def style_stats(self, style: Tensor, content: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(mean, std) of a style's relu4_1 features — compute once, reuse for many contents.

        With ``preserve_color='histogram'`` the style's colours are first matched to ``content``.
        """
        check_image_tensor(style, "style")
        self.vgg.to(style.device)
        mode = self.config.preserve_color
        if mode == "histogram":
            if content is None:
                raise NSTError("preserve-color histogram needs the content to compute style statistics")
            style = colour.match_histogram(style, content)
        elif mode == "luminance":
            style = colour.match_luminance(style, content) if content is not None else colour.luminance(style)
        return losses.mean_std(self.encode(style))

    @torch.no_grad()
    def stylize_with_stats(
        self,
        content: Tensor,
        stats: Sequence[tuple[Tensor, Tensor]],
        weights: Sequence[float] | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Stylise ``content`` with precomputed style statistics.

        Several styles are interpolated with ``weights`` (summing to 1). With ``mask`` (two styles),
        the first style goes where the mask is white and the second where it is black, each region
        normalised with its own content statistics.
        """
        check_image_tensor(content, "content")
        if not stats:
            raise NSTError("at least one style is needed")
        cfg = self.config
        self.vgg.to(content.device)
        self.decoder.to(content.device)
        x = colour.luminance(content) if cfg.preserve_color == "luminance" else content
        m = prepare_mask(mask.to(content.device), content) if mask is not None else None
        if m is not None and len(stats) != 2:
            raise NSTError(f"a mask needs exactly two styles (foreground, background), got {len(stats)}")
        w = check_style_weights(weights, len(stats)) if m is None else [1.0, 1.0]

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

        out = run_padded(run, x, MULTIPLE)
        return colour.finish(cfg.preserve_color, out, content)

    def stylize(self, content: Tensor, style: Tensor, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        return self.stylize_with_stats(content, [self.style_stats(style, content)])


def masked_adain(features: Tensor, mask: Tensor, stats: tuple[Tensor, Tensor], eps: float = losses.EPS) -> Tensor:
    """AdaIN with the content statistics taken inside ``mask`` (N×1×h×w, 0/1) only."""
    area = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (features * mask).sum(dim=(2, 3), keepdim=True) / area
    var = ((features - mean).square() * mask).sum(dim=(2, 3), keepdim=True) / area
    return (features - mean) / (var + eps).sqrt() * stats[1] + stats[0]
