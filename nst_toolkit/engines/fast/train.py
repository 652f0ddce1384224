"""Training of fast models: perceptual loss for one style (from random weights, a style-bank base or an AdaIN
model), distillation into a narrower network, and the style bank that makes a base."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ... import losses
from ...checkpoints import model_dirs, read_metadata, resolve_model_file
from ...data import CropSampler
from ...errors import NSTError
from ...io import sha256_file
from ...nets import AdaINDecoder, AdaINStyleNet, LightAdaIN, StyledAdaINDecoder, TransformerNet, init_seeded, slim_transformer
from ...tiling import run_padded
from ...training import TrainingTask, distilled_from
from ...vgg import VGGFeatures
from ..adain import ENCODER_LAYER, STYLE_LAYERS as ADAIN_LAYERS
from ..adain import ENGINE as ADAIN_ENGINE
from ..adain import MODEL_ALIASES as ADAIN_ALIASES
from ..base import target_scale
from . import BASE_KIND, ENGINE, FastTrainConfig
from .budget import ContentBudget, probe_photos
from .engine import load_transformer, resolve_model, stylize_padded


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
            "distilled_from": distilled_from(self.teacher_sha256, t),
            "step": step,
            "data": data_summary(self.sampler),
        }


def data_summary(sampler: CropSampler) -> dict[str, Any]:
    """What a trained fast model records about its training photos."""
    return {"source": sampler.source, "images": len(sampler), "skipped": sampler.skipped}


def norm_parameter_names(net: nn.Module) -> list[str]:
    """Names of the instance-norm scales and shifts of ``net`` (what a style is, in Dumoulin et al. 2017)."""
    return [f"{name}.{p}" for name, m in net.named_modules()
            if isinstance(m, nn.InstanceNorm2d) and m.affine for p in ("weight", "bias")]


def perceptual_terms(cfg: FastTrainConfig, vgg: VGGFeatures, x: Tensor, y: Tensor, grams: Mapping[str, Tensor],
                     layer_w: Mapping[str, float]) -> dict[str, Tensor]:
    """Johnson et al.'s loss of output ``y`` for input ``x``: content, style (Gram) and total variation."""
    with torch.no_grad():
        target = vgg(x, cfg.content_layers)
    feats = vgg(y, list(dict.fromkeys(cfg.content_layers + cfg.style_layers)))
    c = sum(losses.content_loss(feats[k], target[k]) / target_scale(target[k]) for k in cfg.content_layers)
    return {
        "content": cfg.content_weight * c / len(cfg.content_layers),
        "style": cfg.style_weight * losses.style_loss(feats, grams, layer_w),
        "tv": cfg.tv_weight * losses.tv_loss(y),
    }


def style_targets(vgg: VGGFeatures, style: Tensor, layers: tuple[str, ...]) -> tuple[dict[str, Tensor], dict[str, float]]:
    """The style's Gram matrices and each layer's weight (1 / layers / the Gram's mean square)."""
    with torch.no_grad():
        grams = {k: losses.gram_matrix(v) for k, v in vgg(style, layers).items()}
    return grams, {k: 1.0 / len(layers) / target_scale(g) for k, g in grams.items()}


def adain_terms(cfg: FastTrainConfig, vgg: VGGFeatures, x: Tensor, y: Tensor, style: Mapping[str, Tensor],
                stats: tuple[Tensor, Tensor], features: Tensor | None = None) -> dict[str, Tensor]:
    """The AdaIN paper's loss for one painting (``style``: its VGG features at relu1_1 … relu4_1; ``stats``:
    the mean and std of its relu4_1, computed once): content at relu4_1 against AdaIN(photo's features,
    painting's statistics), mean and std of each layer, plus TV. ``features``: the photo's relu4_1, when
    already computed."""
    from ..adain.train import content_term, style_term

    with torch.no_grad():
        f = features if features is not None else vgg(x, [ENCODER_LAYER])[ENCODER_LAYER]
        t = losses.adain(f, *stats)
    feats = vgg(y, ADAIN_LAYERS)
    return {
        "content": cfg.content_weight * content_term(feats, t),
        "style": cfg.style_weight * style_term(feats, style),
        "tv": cfg.tv_weight * losses.tv_loss(y),
    }


class FastTask(TrainingTask):
    """Perceptual-loss training of a network for one style image: a TransformerNet from random weights or
    from a style-bank base, an :class:`~nst_toolkit.nets.AdaINStyleNet` grown from a light AdaIN model, or a
    :class:`~nst_toolkit.nets.StyledAdaINDecoder` grown from the VGG-19 AdaIN model (the default)."""

    engine = ENGINE

    def __init__(self, cfg: FastTrainConfig, style: Tensor, sampler: CropSampler, device: torch.device,
                 style_sha256: str = "", style_name: str = "", vgg: VGGFeatures | None = None):
        cfg.validate()
        self.cfg, self.sampler, self.device = cfg, sampler, device
        self.style_sha256, self.style_name = style_sha256, style_name
        self.base_info: dict[str, Any] | None = None
        style = style.to(device)
        if cfg.base == "none":
            self.model = init_seeded(TransformerNet(cfg.width, cfg.n_res), cfg.seed).to(device)
        else:
            path = resolve_base(cfg.base)
            net, meta = load_base(path)
            if not isinstance(net, TransformerNet) and cfg.train_params == "norm":
                raise NSTError(f"--train-params norm needs a style-bank base (a TransformerNet); {path.name} "
                               "is an AdaIN model")
            if isinstance(net, LightAdaIN):
                net = AdaINStyleNet.from_light(net.to(device), style)
            self.model = net.to(device)
            training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
            self.base_info = {"sha256": sha256_file(path), "name": path.stem, "step": meta.get("step"),
                              "architecture": meta.get("architecture"),
                              "styles": training.get("styles") or meta.get("data", {}).get("style")}
        if cfg.train_params == "norm":
            trained = set(norm_parameter_names(self.model))
            for name, p in self.model.named_parameters():
                p.requires_grad_(name in trained)
        self.layers = list(ADAIN_LAYERS) if cfg.loss == "adain" else list(dict.fromkeys(cfg.content_layers + cfg.style_layers))
        self.styled = isinstance(self.model, AdaINDecoder)
        if self.styled:  # the loss network is also the encoder: the decoder's own VGG-19, up to relu4_1
            encoder = meta.get("encoder", {}).get("weights", "bundled")
            if encoder != cfg.vgg_weights:
                raise NSTError(f"{path.name} decodes VGG-19 features from {encoder} weights; train it with "
                               f"--vgg-weights {encoder}, not {cfg.vgg_weights}")
            self.layers = list(dict.fromkeys(self.layers + [ENCODER_LAYER]))
        self.vgg = (vgg if vgg is not None and vgg.serves(self.layers, cfg.vgg_weights)
                    else VGGFeatures(self.layers, cfg.vgg_weights)).to(device)
        if self.styled or cfg.loss == "adain":  # one pass over the painting serves both
            with torch.no_grad():
                feats = self.vgg(style, list(ADAIN_LAYERS) if cfg.loss == "adain" else [ENCODER_LAYER])
            self.style_stats = losses.mean_std(feats[ENCODER_LAYER])  # constant: not recomputed each step
        if self.styled:
            self.model = StyledAdaINDecoder.from_decoder(self.model, self.style_stats).to(device)
        if cfg.loss == "adain":
            self.style_feats = {k: feats[k] for k in ADAIN_LAYERS}
        else:
            self.style_grams, self.layer_w = style_targets(self.vgg, style, cfg.style_layers)
        self.budget: ContentBudget | None = None  # steers the style weight (networks that start as adain)
        if cfg.content_budget > 0 and (self.styled or isinstance(self.model, AdaINStyleNet)):
            self.budget = ContentBudget(cfg.content_budget, cfg.style_weight, cfg.steps, self.model,
                                        [p.to(device) for p in probe_photos(sampler.images)], self.render,
                                        lambda x: self.vgg(x, list(ADAIN_LAYERS)))

    @property
    def style_weight(self) -> float:
        """The style weight now: --style-weight, or where the content budget has steered it."""
        return self.cfg.style_weight if self.budget is None else self.budget.weight

    def restore(self, meta: Mapping[str, Any]) -> None:
        """A resumed run continues with the style weight its checkpoint reached."""
        if self.budget is not None and isinstance(meta.get("style_control"), dict):
            self.budget.restore(meta["style_control"])

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        if self.budget is not None and self.budget.due(step):
            self.budget.steer(step, self.model)
        terms = dict(self._terms(net, step))
        if self.style_weight != self.cfg.style_weight:
            terms["style"] = terms["style"] * (self.style_weight / self.cfg.style_weight)
        return terms

    def _terms(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        x = self.sampler.batch(self.cfg.batch_size, self.cfg.seed, step).to(self.device)
        f = None
        if self.styled:  # the frozen VGG-19 encodes, the decoder is trained
            with torch.no_grad():
                f = self.vgg(x, [ENCODER_LAYER])[ENCODER_LAYER]
            y = net(f)
        else:
            y = net(x)
        if self.cfg.loss == "adain":
            return adain_terms(self.cfg, self.vgg, x, y, self.style_feats, self.style_stats, f)
        return perceptual_terms(self.cfg, self.vgg, x, y, self.style_grams, self.layer_w)

    def render(self, model: nn.Module, image: Tensor) -> Tensor:
        """The model's output for ``image`` (checkpoint previews)."""
        if self.styled:
            return run_padded(lambda p: model(self.vgg(p, [ENCODER_LAYER])[ENCODER_LAYER]), image, StyledAdaINDecoder.MULTIPLE)
        return stylize_padded(model, image)

    def metadata(self, step: int) -> dict[str, Any]:
        meta = {
            "engine": ENGINE,
            "architecture": self.model.architecture(),
            "training": self.cfg.to_dict(),
            "style_sha256": self.style_sha256,
            "style_name": self.style_name,
            "step": step,
            "data": data_summary(self.sampler),
        }
        if self.budget is not None:
            meta["style_control"] = self.budget.metadata()
        if self.styled:
            meta["encoder"] = {"weights": self.cfg.vgg_weights, "layer": ENCODER_LAYER}
        if self.base_info is not None:
            meta["base"] = self.base_info
        return meta


class StyleBank(nn.Module):
    """A TransformerNet whose instance-norm scales and shifts are rows of a bank, one row per style.

    Dumoulin et al. 2017's conditional instance norm: the convolutions are shared by every style.
    :meth:`base` is the shared network with the bank's mean scales and shifts — the starting point
    from which ``nst train-fast --base`` adapts to a new style.
    """

    def __init__(self, net: TransformerNet, n_styles: int):
        super().__init__()
        self.net = net
        self.names = norm_parameter_names(net)
        self.bank = nn.ParameterList(
            nn.Parameter(net.get_parameter(n).detach().clone().repeat(n_styles, 1)) for n in self.names)
        for n in self.names:  # replaced by the bank's rows in every pass
            net.get_parameter(n).requires_grad_(False)

    def forward(self, x: Tensor, style: int) -> Tensor:
        from torch.func import functional_call

        return functional_call(self.net, {n: b[style] for n, b in zip(self.names, self.bank)}, (x,), strict=False)

    def base(self) -> TransformerNet:
        net = TransformerNet(self.net.width, self.net.n_res)
        net.load_state_dict(self.net.state_dict())
        with torch.no_grad():
            for n, b in zip(self.names, self.bank):
                net.get_parameter(n).copy_(b.mean(0))
        return net.eval()


class StyleBankTask(TrainingTask):
    """Train a :class:`StyleBank` on several styles at once (one style per step, in turn): a base network."""

    engine = ENGINE

    def __init__(self, cfg: FastTrainConfig, styles: list[Tensor], names: list[str], sampler: CropSampler,
                 device: torch.device, vgg: VGGFeatures | None = None):
        cfg.validate()
        if len(styles) < 2 or len(styles) != len(names):
            raise NSTError("a style bank needs two or more styles, each with a name")
        self.cfg, self.sampler, self.device, self.names = cfg, sampler, device, list(names)
        self.model = StyleBank(init_seeded(TransformerNet(cfg.width, cfg.n_res), cfg.seed), len(styles)).to(device)
        layers = list(dict.fromkeys(cfg.content_layers + cfg.style_layers))
        self.vgg = (vgg or VGGFeatures(layers, cfg.vgg_weights)).to(device)
        self.targets = [style_targets(self.vgg, s.to(device), cfg.style_layers) for s in styles]

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
        k = step % len(self.targets)
        x = self.sampler.batch(self.cfg.batch_size, self.cfg.seed, step).to(self.device)
        return perceptual_terms(self.cfg, self.vgg, x, net(x, k), *self.targets[k])

    def metadata(self, step: int) -> dict[str, Any]:
        net = self.model.net
        return {
            "engine": ENGINE,
            "architecture": net.architecture(),
            "training": {**self.cfg.to_dict(), "method": "style bank (Dumoulin et al. 2017)", "styles": self.names},
            "step": step,
            "data": data_summary(self.sampler),
        }

    def base_tensors(self) -> dict[str, Tensor]:
        """The base network's tensors, named as in a model file."""
        return {f"model.{k}": v for k, v in self.model.base().state_dict().items()}


def resolve_base(name_or_path: str) -> Path:
    """A base network's name — a style bank in a fast_base models folder (none is shipped; the user's is where
    train/fast_base_cpu.sh writes ``bank``), or an AdaIN model (VGG-19 or light) — or a file path → the file. A
    missing ``bank`` is one line naming its recipe (:data:`~nst_toolkit.resources.REBUILD`)."""
    name = ADAIN_ALIASES.get(name_or_path, name_or_path)
    return resolve_model_file(name, (*model_dirs(BASE_KIND), *model_dirs(ADAIN_ENGINE)), "base network")


def load_base(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """A base for ``nst train-fast``: a style bank (TransformerNet), or an AdaIN model (VGG-19 or light)."""
    if read_metadata(path).get("engine") == ADAIN_ENGINE:
        from ..adain.engine import load_adain

        return load_adain(path)
    return load_transformer(path)


def distill_task(cfg: FastTrainConfig, teacher: str, sampler: CropSampler, device: torch.device) -> DistillTask:
    """A distillation task from a teacher model name or path; the student keeps the teacher's depth."""
    path = resolve_model(teacher)
    net, meta = load_transformer(path)
    return DistillTask(replace(cfg, n_res=net.n_res), net, meta, sampler, device, teacher_sha256=sha256_file(path))


def make_training(cfg: FastTrainConfig, style: Path | None, teacher: str | None, data: str | None,
                  device: torch.device, rank: int = 0, world_size: int = 1) -> tuple[TrainingTask, str]:
    """The task of `nst train-fast`: learn ``style`` (an image file) or distil ``teacher`` (a model name or file),
    on the photos of ``data`` (a folder or dataset id; None: the built-in photos), with a line saying what data
    it found."""
    from ...images import load_image
    from ...imagefiles import IMAGE_SUFFIXES
    from ...resources import BUILTIN_PHOTOS_NAME, builtin_photos

    if (style is None) == (teacher is None):
        raise NSTError("give either --style (train from a style image) or --teacher (distil a trained model)")
    cfg.validate()
    if data is None:
        photos = builtin_photos()
        sampler = CropSampler(str(photos), cfg.size, rank=rank, world_size=world_size, name=BUILTIN_PHOTOS_NAME,
                              short_side=cfg.photo_size)
        n = sum(1 for p in photos.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        source = f"built-in photos ({n}, see nst_toolkit/photos/ATTRIBUTION.md)"
    else:
        sampler = CropSampler(data, cfg.size, rank=rank, world_size=world_size, short_side=cfg.photo_size)
        source = data
    note = (f"{len(sampler)} training images on rank {rank} ({sampler.skipped} unreadable, skipped) "
            f"from {source}; world size {world_size}")
    if teacher is not None:
        return distill_task(cfg, teacher, sampler, device), note
    task = FastTask(cfg, load_image(style, cfg.style_size), sampler, device, style_sha256=sha256_file(style),
                    style_name=Path(style).stem)
    return task, note
