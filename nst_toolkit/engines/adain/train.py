"""Training of the AdaIN engine's networks: the paper's VGG-19 decoder, and distillation of the light model
from a trained VGG-19 model. :func:`make_training` builds a task from data folders for `nst train-adain`."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import losses
from ...data import CropSampler
from ...errors import NSTError
from ...io import sha256_file
from ...nets import AdaINDecoder, LightAdaIN, init_seeded
from ...training import TrainingTask, distilled_from
from ...vgg import VGGFeatures, validate_layers
from ..base import target_scale
from . import EMBED_SCALE, ENCODER_LAYER, ENGINE, PHOTO_LAYER, STYLE_LAYERS, AdaINConfig, AdaINTrainConfig
from .engine import AdaINEngine, load_adain, resolve_decoder


def data_summary(content: CropSampler, style: CropSampler) -> dict[str, Any]:
    """What a trained AdaIN model records about its training images."""
    return {"content": content.source, "content_images": len(content), "content_skipped": content.skipped,
            "style": style.source, "style_images": len(style), "style_skipped": style.skipped}


def content_term(features: Mapping[str, Tensor], target: Tensor) -> Tensor:
    """The paper's content loss: the output's relu4_1 against the AdaIN target, relative to the target."""
    return losses.content_loss(features[ENCODER_LAYER], target) / target_scale(target)


def style_term(features: Mapping[str, Tensor], style: Mapping[str, Tensor],
               layers: Sequence[str] = STYLE_LAYERS) -> Tensor:
    """The paper's style loss: mean and std at ``layers`` (the paper's: relu1_1 … relu4_1) against the
    style's, each relative, averaged."""
    return sum(losses.mean_std_loss(features[k], style[k]) / target_scale(losses.mean_std(style[k])[1])
               for k in layers) / len(layers)


def gram_term(features: Mapping[str, Tensor], style: Mapping[str, Tensor], layers: Sequence[str]) -> Tensor:
    """Relative Gram error at ``layers`` against the style's, averaged."""
    return sum(losses.relative_gram_loss(features[k], style[k]) for k in layers) / len(layers)


def photo_term(features: Mapping[str, Tensor], photo: Tensor) -> Tensor:
    """Gatys et al.'s content loss: the output's relu4_2 against the photo's, relative to the photo's."""
    return losses.content_loss(features[PHOTO_LAYER], photo) / target_scale(photo)


def photo_bound_term(features: Mapping[str, Tensor], teacher: Mapping[str, Tensor], photo: Tensor) -> Tensor:
    """Per pair, how much further the stylisation is from the photo than the teacher's stylisation (relu4_2,
    relative: `nst eval`'s content distance; 0 where it is nearer), averaged."""
    return (losses.relative_content_errors(features[PHOTO_LAYER], photo)
            - losses.relative_content_errors(teacher[PHOTO_LAYER], photo)).clamp_min(0).mean()


def loss_layers(cfg: AdaINTrainConfig) -> list[str]:
    """The VGG-19 layers a training step needs: relu4_1 (AdaIN and the content loss), the style loss's, the Gram
    loss's with ``gram_weight`` and relu4_2 with ``photo_weight``."""
    return validate_layers(dict.fromkeys((ENCODER_LAYER,) + tuple(cfg.style_layers)
                                         + (tuple(cfg.gram_at()) if cfg.gram_weight else ())
                                         + ((PHOTO_LAYER,) if cfg.photo_weight else ())))


class AdaINTask(TrainingTask):
    engine = ENGINE

    def __init__(self, cfg: AdaINTrainConfig, content: CropSampler, style: CropSampler, device: torch.device,
                 vgg: VGGFeatures | None = None):
        cfg.validate()
        self.cfg, self.content, self.style, self.device = cfg, content, style, device
        self.model = init_seeded(AdaINDecoder(), cfg.seed).to(device)
        self.layers = loss_layers(cfg)
        self.content_layers = [ENCODER_LAYER] + ([PHOTO_LAYER] if cfg.photo_weight else [])
        self.vgg = (vgg or VGGFeatures(self.layers, cfg.vgg_weights)).to(device)

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        cfg = self.cfg
        c = self.content.batch(cfg.batch_size, cfg.seed, step).to(self.device)
        warm = step < cfg.warmup_steps
        with torch.no_grad():
            fcs = self.vgg(c, self.content_layers)
            fc = fcs[ENCODER_LAYER]
            if warm:
                t, fs = fc, None
            else:
                s = self.style.batch(cfg.batch_size, cfg.seed + 1, step).to(self.device)
                fs = self.vgg(s, self.layers)
                t = losses.adain(fc, *losses.mean_std(fs[ENCODER_LAYER]))
        g = net(t)
        fg = self.vgg(g, self.layers)
        terms = {"content": content_term(fg, t)}
        if warm:
            terms["pixel"] = cfg.pixel_weight * F.mse_loss(g, c) / target_scale(c)
        else:
            terms["style"] = cfg.style_weight * style_term(fg, fs, cfg.style_layers)
            if cfg.gram_weight:
                terms["gram"] = cfg.gram_weight * gram_term(fg, fs, cfg.gram_at())
            if cfg.photo_weight:
                terms["photo"] = cfg.photo_weight * photo_term(fg, fcs[PHOTO_LAYER])
        return terms

    def metadata(self, step: int) -> dict[str, Any]:
        return {
            "engine": ENGINE,
            "architecture": self.model.architecture(),
            "encoder": {"weights": self.cfg.vgg_weights, "layer": ENCODER_LAYER},
            "training": self.cfg.to_dict(),
            "step": step,
            "data": data_summary(self.content, self.style),
        }


class LightAdaINTask(TrainingTask):
    """Distil a trained VGG-19 AdaIN model (the teacher) into :class:`~nst_toolkit.nets.LightAdaIN`.

    Per step, for a batch of content and style crops:

    * ``distill`` (when ``distill_weight`` > 0): L1 between the student's stylisation (AdaIN in its own
      feature space, alpha 1) and the teacher's, clamped to [0, 1] — the teacher only runs forward;
    * ``reconstruct``: L1 between the student's decoded content (alpha 0; through the skip branches when
      the model has them) and the content itself, so ``--alpha 0`` gives back the photo (the teacher's own
      decoder inverts its encoder poorly);
    * ``embed``: the student's features through a 1×1 convolution against VGG-19 relu4_1
      (Wang et al. 2020's linear embedding), so its feature statistics carry what VGG's do;
    * ``content`` and ``style`` (when ``perceptual_weight`` > 0): the paper's losses through VGG-19
      on the student's stylisation — relu4_1 against the teacher's AdaIN target, mean and std at
      ``style_layers`` (the paper's relu1_1 … relu4_1) against the style's;
    * ``gram`` (when ``gram_weight`` > 0 too): the relative Gram error at ``gram_layers`` (default
      ``style_layers``) against the style's;
    * ``photo`` (when ``photo_weight`` > 0 too): Gatys et al.'s content loss, relu4_2 against the photo's;
    * with ``photo_bound``, the photo loss counts pair by pair only where the student's stylisation is further
      from the photo than the teacher's stylisation of the same pair;
    * ``teacher_gram`` (when ``teacher_gram_weight`` > 0): the relative Gram error at ``teacher_gram_layers``
      against the teacher's stylisation of the same pair (a target the photo's layout can reach).
    """

    engine = ENGINE

    def __init__(self, cfg: AdaINTrainConfig, content: CropSampler, style: CropSampler, device: torch.device):
        cfg.validate()
        self.cfg, self.content, self.style, self.device = cfg, content, style, device
        teacher_path = resolve_decoder(cfg.teacher)
        teacher, self.teacher_meta = load_adain(teacher_path)
        if not isinstance(teacher, AdaINDecoder):
            raise NSTError(f"{teacher_path}: the teacher must be a VGG-19 AdaIN model, not a light one")
        self.teacher = teacher.to(device).eval().requires_grad_(False)
        self.teacher_sha256 = sha256_file(teacher_path)
        weights = self.teacher_meta.get("encoder", {}).get("weights", "bundled")
        layers = loss_layers(cfg)  # checked even when unused: a misspelt --style-layers is an error, not a no-op
        self.style_feature_layers = layers if cfg.perceptual_weight else [ENCODER_LAYER]  # what the style's features feed
        self.teacher_layers = list(dict.fromkeys((list(cfg.teacher_gram_layers) if cfg.teacher_gram_weight else [])
                                                 + ([PHOTO_LAYER] if cfg.photo_bound else [])))
        self.layers = list(dict.fromkeys(self.style_feature_layers + self.teacher_layers))  # the stylisation's too
        self.content_layers = [ENCODER_LAYER] + ([PHOTO_LAYER] if cfg.photo_weight and cfg.perceptual_weight else [])
        self.vgg = VGGFeatures(self.layers, weights).to(device)
        self.model = init_seeded(LightAdaIN(tuple(cfg.widths), skips=cfg.skips, style_skips=cfg.style_skips,
                                            blocks=cfg.blocks, decoder_widths=cfg.decoder_widths or None),
                                 cfg.seed).to(device)

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        cfg = self.cfg
        c = self.content.batch(cfg.batch_size, cfg.seed, step).to(self.device)
        s = self.style.batch(cfg.batch_size, cfg.seed + 1, step).to(self.device)
        perceptual = cfg.perceptual_weight > 0
        with torch.no_grad():
            fcs = self.vgg(c, self.content_layers)
            fc_t = fcs[ENCODER_LAYER]
            fs = self.vgg(s, self.style_feature_layers)
            t = losses.adain(fc_t, *losses.mean_std(fs[ENCODER_LAYER]))
            target = self.teacher(t).clamp(0, 1) if cfg.distill_weight or self.teacher_layers else None
            f_target = self.vgg(target, self.teacher_layers) if self.teacher_layers else None
        y, rec, fc = net(c, s)
        model = net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net
        embedded = model.encoder.embed(fc)
        fc_scaled = fc_t * EMBED_SCALE  # Caffe-unit activations in the hundreds: near 1, so Adam's steps fit the 1×1 conv
        terms = {
            "reconstruct": cfg.reconstruct_weight * (rec - c).abs().mean(),
            "embed": cfg.embed_weight * F.mse_loss(embedded, fc_scaled) / target_scale(fc_scaled),
        }
        if cfg.distill_weight:
            terms = {"distill": cfg.distill_weight * (y - target).abs().mean(), **terms}
        fy = self.vgg(y, self.layers) if perceptual or f_target is not None else None
        if perceptual:
            terms["content"] = cfg.perceptual_weight * content_term(fy, t)
            terms["style"] = cfg.perceptual_weight * cfg.style_weight * style_term(fy, fs, cfg.style_layers)
            if cfg.gram_weight:
                terms["gram"] = cfg.perceptual_weight * cfg.gram_weight * gram_term(fy, fs, cfg.gram_at())
            if cfg.photo_weight:
                terms["photo"] = cfg.perceptual_weight * cfg.photo_weight * (
                    photo_bound_term(fy, f_target, fcs[PHOTO_LAYER]) if cfg.photo_bound
                    else photo_term(fy, fcs[PHOTO_LAYER]))
        if cfg.teacher_gram_weight:
            terms["teacher_gram"] = cfg.teacher_gram_weight * gram_term(fy, f_target, cfg.teacher_gram_layers)
        return terms

    def metadata(self, step: int) -> dict[str, Any]:
        return {
            "engine": ENGINE,
            "architecture": self.model.architecture(),
            "training": {**self.cfg.to_dict(), "method": "distillation"},
            "distilled_from": distilled_from(self.teacher_sha256, self.teacher_meta),
            "step": step,
            "data": data_summary(self.content, self.style),
        }


def training_task(cfg: AdaINTrainConfig, content: CropSampler, style: CropSampler, device: torch.device) -> TrainingTask:
    """The task ``cfg.arch`` asks for: the paper's decoder training, or distillation into the light model."""
    cfg.validate()
    if cfg.arch == "light":
        return LightAdaINTask(cfg, content, style, device)
    return AdaINTask(cfg, content, style, device)


def make_training(cfg: AdaINTrainConfig, content: str, style: str, device: torch.device, rank: int = 0,
                  world_size: int = 1) -> tuple[TrainingTask, str]:
    """The task of `nst train-adain` from folders (or dataset ids) of photos and paintings, with a line saying
    what data it found."""
    cfg.validate()
    cs = CropSampler(content, cfg.size, rank=rank, world_size=world_size)
    ss = CropSampler(style, cfg.size, rank=rank, world_size=world_size, short_side=cfg.style_short_side)
    note = (f"{len(cs)} content and {len(ss)} style images on rank {rank} "
            f"({cs.skipped + ss.skipped} unreadable, skipped); world size {world_size}")
    return training_task(cfg, cs, ss, device), note


def preview_renderer(task: TrainingTask, style: Tensor) -> Callable[[nn.Module, Tensor], Tensor]:
    """How a checkpoint's preview is drawn: the model being trained, applied with ``style``."""
    vgg = getattr(task, "vgg", None)
    return lambda model, x: AdaINEngine(AdaINConfig(), decoder=model, vgg=vgg).stylize(x, style)
