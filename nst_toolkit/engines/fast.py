"""Johnson, Alahi & Fei-Fei 2016: a feed-forward network per style (with Ulyanov's instance norm)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from .. import colour, losses
from ..checkpoints import load_model, model_dirs, read_metadata, resolve_model_file
from ..data import CropSampler
from ..errors import NSTError
from ..nets import TransformerNet, init_seeded, slim_transformer
from ..optimize import Step
from ..training import TrainingTask
from ..vgg import VGGFeatures, validate_layers
from .base import check_image_tensor, check_non_negative, check_positive, run_padded, target_scale

ENGINE = "fast"


@dataclass(frozen=True)
class FastTrainConfig:
    """Defaults of `nst train-fast`; each value's source is in its comment."""

    size: int = 256  # training crop, px (paper: 256×256 COCO images)
    batch_size: int = 8  # paper: 4; 8 steadies the instance-norm statistics on a small data set
    steps: int = 4000  # paper: 40k steps (2 COCO epochs); our 251-photo set saturates far sooner
    lr: float = 1e-3  # paper, sec. 4
    width: int = 32  # channels of the first layer (paper: 32); 16 trades quality for ~3× speed
    n_res: int = 5  # residual blocks (paper: 5)
    content_layers: tuple[str, ...] = ("relu2_2",)  # paper, sec. 3.2 (relu2_2 for style transfer)
    style_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # paper, sec. 3.2
    content_weight: float = 1.0
    # Each layer's loss is relative to its target's mean square (as in the gatys engine), so these
    # numbers are not the paper's; chosen by eye on held-out photos.
    style_weight: float = 10.0
    tv_weight: float = 5.0
    style_size: int = 512  # longest side of the style image during training
    max_grad_norm: float | None = 1.0  # not in the paper: unclipped runs collapsed after ~2500 steps here
    seed: int = 0
    checkpoint_every: int = 1000
    weights: str = "bundled"  # VGG-19 loss network

    def validate(self) -> None:
        validate_layers(self.content_layers)
        validate_layers(self.style_layers)
        check_positive(size=self.size, batch_size=self.batch_size, steps=self.steps, lr=self.lr, width=self.width,
                       style_size=self.style_size)
        check_non_negative(content_weight=self.content_weight, style_weight=self.style_weight, tv_weight=self.tv_weight)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FastConfig:
    """Defaults of `nst fast`."""

    model: str = "great_wave"  # a shipped model name (models/fast/NAME.safetensors) or a path
    preserve_color: str = "none"  # none | luminance (stylise Y only) | histogram (output colours matched to the content)


class DistillTask(TrainingTask):
    """Distillation: a narrower TransformerNet learns to reproduce a trained one's output, pixel by pixel.

    Far cheaper than perceptual-loss training (no VGG; the teacher only runs forward), so a fast
    model for a slow CPU can be made from any trained one. The student starts from the teacher's
    most important channels (:func:`~nst_toolkit.nets.slim_transformer`). The loss is the mean
    absolute difference to the teacher's clamped output (L1: sharper than L2 where the student
    cannot match exactly). ``cfg.width`` is the student's width; the style weights are unused.
    """

    engine = ENGINE

    def __init__(self, cfg: FastTrainConfig, teacher: TransformerNet, teacher_meta: Mapping[str, Any],
                 sampler: CropSampler, device: torch.device, teacher_sha256: str = ""):
        cfg.validate()
        if cfg.width > teacher.width:
            raise NSTError(f"the student's width ({cfg.width}) must not exceed the teacher's ({teacher.width})")
        if cfg.n_res != teacher.n_res:
            raise NSTError(f"the student must have the teacher's {teacher.n_res} residual blocks, not {cfg.n_res}")
        self.cfg, self.sampler, self.device = cfg, sampler, device
        self.teacher = teacher.to(device).eval().requires_grad_(False)
        self.teacher_meta, self.teacher_sha256 = dict(teacher_meta), teacher_sha256
        self.model = slim_transformer(teacher, cfg.width).to(device)

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        x = self.sampler.batch(self.cfg.batch_size, self.cfg.seed, step).to(self.device)
        with torch.no_grad():
            target = self.teacher(x).clamp(0, 1)
        return {"distill": (net(x) - target).abs().mean()}

    def metadata(self, step: int) -> dict[str, Any]:
        t = self.teacher_meta
        return {
            "engine": ENGINE,
            "architecture": self.model.architecture(),
            "training": {**self.cfg.to_dict(), "method": "distillation"},
            "style_sha256": t.get("style_sha256", ""),
            "style_name": t.get("style_name", ""),
            "distilled_from": {"sha256": self.teacher_sha256, "architecture": t.get("architecture"), "step": t.get("step")},
            "step": step,
            "data": {"source": self.sampler.source, "images": len(self.sampler), "skipped": self.sampler.skipped},
        }


class FastTask(TrainingTask):
    """Perceptual-loss training of a TransformerNet for one style image."""

    engine = ENGINE

    def __init__(self, cfg: FastTrainConfig, style: Tensor, sampler: CropSampler, device: torch.device,
                 style_sha256: str = "", style_name: str = "", vgg: VGGFeatures | None = None):
        cfg.validate()
        self.cfg, self.sampler, self.device = cfg, sampler, device
        self.style_sha256, self.style_name = style_sha256, style_name
        self.model = init_seeded(TransformerNet(cfg.width, cfg.n_res), cfg.seed).to(device)
        self.layers = list(dict.fromkeys(cfg.content_layers + cfg.style_layers))
        self.vgg = (vgg or VGGFeatures(self.layers, cfg.weights)).to(device)
        with torch.no_grad():
            feats = self.vgg(style.to(device), cfg.style_layers)
            self.style_grams = {k: losses.gram_matrix(v) for k, v in feats.items()}
        self.layer_w = {k: 1.0 / len(cfg.style_layers) / target_scale(g) for k, g in self.style_grams.items()}

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        cfg = self.cfg
        x = self.sampler.batch(cfg.batch_size, cfg.seed, step).to(self.device)
        y = net(x)
        with torch.no_grad():
            target = self.vgg(x, cfg.content_layers)
        feats = self.vgg(y, self.layers)
        c = sum(losses.content_loss(feats[k], target[k]) / target_scale(target[k]) for k in cfg.content_layers)
        return {
            "content": cfg.content_weight * c / len(cfg.content_layers),
            "style": cfg.style_weight * losses.style_loss(feats, self.style_grams, self.layer_w),
            "tv": cfg.tv_weight * losses.tv_loss(y),
        }

    def metadata(self, step: int) -> dict[str, Any]:
        return {
            "engine": ENGINE,
            "architecture": self.model.architecture(),
            "training": self.cfg.to_dict(),
            "style_sha256": self.style_sha256,
            "style_name": self.style_name,
            "step": step,
            "data": {"source": self.sampler.source, "images": len(self.sampler), "skipped": self.sampler.skipped},
        }


def resolve_model(name_or_path: str) -> Path:
    """A shipped or local fast model name, or a file path → the file."""
    return resolve_model_file(name_or_path, model_dirs(ENGINE), "shipped fast model")


def load_transformer(path: str | Path) -> tuple[TransformerNet, dict[str, Any]]:
    return load_model(path, ENGINE, "TransformerNet", lambda a: TransformerNet(int(a.get("width", 32)), int(a.get("n_res", 5))))


def stylize_padded(net: nn.Module, image: Tensor) -> Tensor:
    """Run ``net`` on any size (padded to a multiple of 4, cropped back), clamped to [0, 1]."""
    return run_padded(net, image, TransformerNet.MULTIPLE)


class FastEngine:
    """Applies a trained TransformerNet; the style is in the network, so ``style`` is ignored."""

    name = ENGINE

    def __init__(self, config: FastConfig = FastConfig(), net: TransformerNet | None = None):
        self.config = config
        if config.preserve_color not in colour.MODES:
            raise NSTError(f"preserve-color must be one of {', '.join(colour.MODES)}")
        if net is None:
            net, self.meta = load_transformer(resolve_model(config.model))
        else:
            self.meta = {}
        self.net = net.eval()

    @torch.no_grad()
    def stylize(self, content: Tensor, style: Tensor | None = None, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        self.net.to(content.device)
        mode = self.config.preserve_color
        x = content
        if mode == "histogram":
            # The network's style is fixed, so match its output's colours to the content afterwards.
            out = stylize_padded(self.net, x)
            return torch.cat([colour.match_histogram(o[None], c[None]) for o, c in zip(out, content)])
        if mode == "luminance":
            x = colour.luminance(content)
        out = stylize_padded(self.net, x)
        return colour.finish(mode, out, content)


def model_info(path: Path) -> dict[str, Any]:
    """Metadata of a model file, for `nst models`."""
    meta = read_metadata(path)
    return {k: meta.get(k) for k in ("engine", "architecture", "style_name", "style_sha256", "step", "toolkit_version")}
