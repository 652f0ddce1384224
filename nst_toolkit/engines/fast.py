"""Johnson, Alahi & Fei-Fei 2016: a feed-forward network per style (with Ulyanov's instance norm)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from .. import colour, losses
from ..checkpoints import load_model, model_dirs, model_files, read_metadata, resolve_model_file
from ..data import CropSampler
from ..errors import NSTError
from ..images import resize_longest
from ..io import sha256_file
from ..memory import choose_tile
from ..nets import AdaINDecoder, AdaINStyleNet, LightAdaIN, StyledAdaINDecoder, TransformerNet, init_seeded, slim_transformer
from ..optimize import Step
from ..options import check_choice, check_colour_mode, check_non_negative, check_positive, colour_option, option, to_dict
from ..styles import StyleSet, StylesLike, check_image_tensor
from ..tiling import check_finite_output, instance_norm_stats, pad_to_multiple, run_padded, run_tiled, with_fixed_norms
from ..training import TrainingTask, distilled_from
from ..vgg import VGGFeatures, validate_layers
from .adain import ENCODER_LAYER, STYLE_LAYERS as ADAIN_LAYERS
from .adain import ENGINE as ADAIN_ENGINE
from .base import EngineBase, target_scale
from .registry import EngineSpec, register

ENGINE = "fast"
BASE_KIND = "fast_base"  # shipped base networks live in models/fast_base/, apart from the style models
TRAIN_PARAMS = ("all", "norm")
LOSSES = ("gram", "adain")
TILE_HELP = ("Stylise in tiles of this many px with the whole image's statistics (bounded memory, any size); "
             "default: tiles of about 0.4 GiB of activations when the image would need over 1 GiB at once; 0: never.")
# Peak activation memory of an untiled TransformerNet pass, bytes per input pixel per unit of width
# (RSS growth measured at 1024² on the CPU: width 32 → 977 B/px, width 12 → 458 B/px).
BYTES_PER_PIXEL_PER_WIDTH = 40.0
TILE_HALO = 64  # the TransformerNet's receptive field reaches ±54 px
STATS_PIXELS = 1024 * 1024  # tiled runs take instance-norm statistics from the image at most this large


@dataclass(frozen=True)
class FastTrainConfig:
    """Defaults of `nst train-fast`; each value's source is in its comment."""

    # The default is a CPU recipe (issue #11): grow a one-style network from the shipped AdaIN model
    # (its decoder with the painting's relu4_1 statistics built in, the bundled VGG-19 as encoder, so
    # step 0 is `nst adain` with that painting) and train the decoder on the AdaIN paper's loss for that
    # one painting, small crops of the built-in photos; `nst train-fast` stops after 18 minutes by
    # default (--max-minutes), so it ends within 20 on any machine. Measured on paintings no base has
    # seen (models/README.md, README "Benchmarks"). --base light grows one from the light AdaIN model
    # instead (5x faster to apply, less faithful). Johnson's loss on the style bank (session 4's
    # recipe): --base bank --loss gram --lr 1e-3 --style-weight 10 --tv-weight 5; the paper's: --base none --loss gram --size 256 --batch-size 4
    # --steps 40000 --lr 1e-3 --style-weight 10 --tv-weight 5 --max-minutes 0 (2 COCO epochs).
    size: int = option(128, "Training crop size, px (the paper: 256).")
    batch_size: int = option(4, "Images per step (the paper: 4).")
    steps: int = option(200, "Training steps in all (a resumed run continues up to this).")
    lr: float = option(1e-4, "Adam learning rate (AdaIN's; Johnson's 1e-3 suits a TransformerNet, 1e-2 --train-params norm).")
    width: int = option(32, "Channels of the first layer (paper 32; 12 runs ~4x faster on a CPU).")
    n_res: int = option(5, "Residual blocks (paper 5).")
    content_layers: tuple[str, ...] = option(("relu2_2",), "Comma-separated VGG layers of the content loss.")  # paper, 3.2
    style_layers: tuple[str, ...] = option(("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
                                           "Comma-separated VGG layers of the style loss.")  # paper, sec. 3.2
    content_weight: float = option(1.0, "Weight of the content loss.")
    # Each layer's loss is relative to its target's mean square (as in the gatys engine), so these
    # numbers are not the papers'. 2 with --loss adain: on the tuning painting (Café Terrace, light
    # base) weight 2 reached adain's content distance in 100 steps at 12 % less style distance, 3 took
    # over 300 steps (models/README.md); 10 with --loss gram: chosen by eye on held-out photos.
    style_weight: float = option(2.0, "Weight of the style loss (10 suits --loss gram).")
    tv_weight: float = option(1.0, "Weight of the total-variation loss (5 with --loss gram).")
    style_size: int = option(512, "Longest side of the style image during training, px.")
    photo_size: int = option(256, "Shorter side the training photos are resized to before the random crops, px "
                                "(0: 1.25 x --size; larger: crops nearer the photos' own scale).")  # measured: 256 with 128-px crops
    # Not in the paper: unclipped runs collapsed after ~2500 steps here.
    max_grad_norm: float | None = option(1.0, "Clip the gradient norm to this (0: off).")
    seed: int = option(0, "Seed of the initial weights and the crops.")
    checkpoint_every: int = option(50, "Write a checkpoint and a preview every N steps (0: only at the end).")
    vgg_weights: str = option("bundled", "VGG-19 weights of the loss network: bundled | torchvision | a file.")
    # Dumoulin, Shlens & Kudlur 2017: one network's convolutions serve many styles, each style being
    # only its instance-norm scales and shifts; a new style needs those few numbers trained.
    base: str = option("default", "Start from this trained base network: default (the shipped VGG-19 AdaIN model), "
                                 "light (the light AdaIN model: 5x faster models, less faithful), bank (a style bank "
                                 "of 21 paintings, Dumoulin et al. 2017), another model's name or .safetensors file, "
                                 "or none (a random TransformerNet, the paper). A base's own architecture replaces "
                                 "--width/--n-res.")
    train_params: str = option("all", "Weights to train: all (the paper) | norm (only the instance-norm scales and "
                                      "shifts of a style-bank base, Dumoulin et al. 2017: a new style in few steps).")
    loss: str = option("adain", "Perceptual loss: gram (Johnson et al.: Gram matrices of --style-layers, content at "
                               "--content-layers) | adain (Huang & Belongie: mean and std of relu1_1...relu4_1, content "
                               "at relu4_1 against the photo's features with the painting's statistics).")

    def validate(self) -> None:
        check_choice("train_params", self.train_params, TRAIN_PARAMS)
        check_choice("loss", self.loss, LOSSES)
        validate_layers(self.content_layers)
        validate_layers(self.style_layers)
        check_positive(size=self.size, batch_size=self.batch_size, steps=self.steps, lr=self.lr, width=self.width,
                       n_res=self.n_res, style_size=self.style_size)
        if self.width > 256 or self.n_res > 32:  # what a model file may declare (checkpoints.ARCHITECTURES)
            raise NSTError(f"width must be at most 256 and n-res at most 32, not {self.width} and {self.n_res}")
        check_non_negative(content_weight=self.content_weight, style_weight=self.style_weight, tv_weight=self.tv_weight,
                           photo_size=self.photo_size,
                           checkpoint_every=self.checkpoint_every)

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass(frozen=True)
class FastConfig:
    """Defaults of `nst fast`."""

    model: str = option("great_wave", "Trained model: a name from `nst models`, a .safetensors path, "
                                       "or all (every model on one photo, as a labelled sheet).", short="-m")
    size: int | None = option(None, "Resize the content's longest side to this, px (default: keep its size).")
    preserve_color: str = colour_option()
    tile: int | None = option(None, TILE_HELP)

    def validate(self) -> None:
        if self.size is not None:
            check_positive(size=self.size)
        if self.tile is not None:
            check_non_negative(tile=self.tile)
        check_colour_mode(self.preserve_color)

    def to_dict(self) -> dict:
        return to_dict(self)


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
    from .adain_engine import content_term, style_term

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

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:
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


def resolve_model(name_or_path: str) -> Path:
    """A shipped or local fast model name, or a file path → the file."""
    return resolve_model_file(name_or_path, model_dirs(ENGINE), "shipped fast model")


def resolve_base(name_or_path: str) -> Path:
    """A base network's name — a style bank in models/fast_base/, or an AdaIN model (VGG-19 or light) in
    models/adain/ — or a file path → the file."""
    return resolve_model_file(name_or_path, (*model_dirs(BASE_KIND), *model_dirs(ADAIN_ENGINE)), "base network")


def load_transformer(path: str | Path) -> tuple[TransformerNet, dict[str, Any]]:
    return load_model(path, ENGINE, "TransformerNet", lambda a: TransformerNet(int(a.get("width", 32)), int(a.get("n_res", 5))))


def _architecture_name(path: str | Path) -> Any:
    spec = read_metadata(path).get("architecture")
    return spec.get("arch") if isinstance(spec, dict) else None


def load_fast_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """A trained fast model: a TransformerNet, a StyledAdaINDecoder (``nst train-fast``'s default) or an
    AdaINStyleNet (``--base light``)."""
    arch = _architecture_name(path)
    if arch == "StyledAdaINDecoder":
        return load_model(path, ENGINE, arch, lambda a: StyledAdaINDecoder(float(a["feature_scale"])))
    if arch == "AdaINStyleNet":
        return load_model(path, ENGINE, arch, AdaINStyleNet.from_architecture)
    return load_transformer(path)


def load_base(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """A base for ``nst train-fast``: a style bank (TransformerNet), or an AdaIN model (VGG-19 or light)."""
    if read_metadata(path).get("engine") == ADAIN_ENGINE:
        from .adain_engine import load_adain

        return load_adain(path)
    return load_transformer(path)


def stylize_padded(net: nn.Module, image: Tensor) -> Tensor:
    """Run ``net`` on any size (padded to the multiple its strides need, cropped back), clamped to [0, 1]."""
    return run_padded(net, image, getattr(net, "MULTIPLE", TransformerNet.MULTIPLE))


def distill_task(cfg: FastTrainConfig, teacher: str, sampler: CropSampler, device: torch.device) -> DistillTask:
    """A distillation task from a teacher model name or path; the student keeps the teacher's depth."""
    path = resolve_model(teacher)
    net, meta = load_transformer(path)
    return DistillTask(replace(cfg, n_res=net.n_res), net, meta, sampler, device, teacher_sha256=sha256_file(path))


def model_for_style(style_path: Path) -> dict[str, Any] | None:
    """Config values selecting a shipped or local model trained on this exact style file (by sha256), if any."""
    digest = sha256_file(style_path)
    for _, p in model_files(ENGINE):
        try:
            if read_metadata(p).get("style_sha256") == digest:
                return {"model": str(p)}
        except NSTError:
            continue
    return None


class FastEngine(EngineBase):
    """Applies a trained TransformerNet; the style is in the network, so style images are not used."""

    name = ENGINE

    def __init__(self, config: FastConfig = FastConfig(), net: TransformerNet | None = None):
        config.validate()
        self.config = config
        if net is None:
            net, self.meta = load_fast_model(resolve_model(config.model))
        else:
            self.meta = {}
        self.net = net.eval()
        self.adain = None
        if isinstance(net, (AdaINStyleNet, StyledAdaINDecoder)):
            # AdaIN with the style's statistics built in: the adain engine's pass, padding and tiles
            from .adain import AdaINConfig
            from .adain_engine import AdaINEngine

            light = isinstance(net, AdaINStyleNet)
            vgg = None if light else VGGFeatures([ENCODER_LAYER], self.meta.get("encoder", {}).get("weights", "bundled"))
            self.adain = AdaINEngine(AdaINConfig(model=config.model, tile=config.tile),
                                     decoder=net.adain if light else net.decoder, vgg=vgg)

    @torch.no_grad()
    def stylize(self, content: Tensor, styles: StylesLike = None, *, on_step: Callable[[Step], None] | None = None) -> Tensor:
        check_image_tensor(content, "content")
        self.net.to(content.device)
        out = colour.preserve(self.config.preserve_color, content, StyleSet.none(), lambda c, _: self._forward(c))
        return check_finite_output(out, f"fast model {self.config.model}")

    def _forward(self, x: Tensor) -> Tensor:
        if self.adain is not None:
            code = self.net.style_code() if isinstance(self.net, AdaINStyleNet) else (self.net.style_mean, self.net.style_std)
            return self.adain.stylize_with_stats(x, [code])
        pixels = x.shape[-2] * x.shape[-1]
        tile = choose_tile(self.config.tile, pixels, BYTES_PER_PIXEL_PER_WIDTH * self.net.width, TransformerNet.MULTIPLE,
                           TILE_HALO)
        if tile is None or x.shape[0] != 1:
            return stylize_padded(self.net, x)
        # Instance-norm statistics of the whole image (of a downscaled copy above STATS_PIXELS), shared by all tiles.
        small = x if pixels <= STATS_PIXELS else resize_longest(x, int(max(x.shape[-2:]) * (STATS_PIXELS / pixels) ** 0.5))
        fixed = with_fixed_norms(self.net, instance_norm_stats(self.net, pad_to_multiple(small, TransformerNet.MULTIPLE)))
        return run_tiled(lambda t: stylize_padded(fixed, t), x, tile=tile, halo=TILE_HALO, multiple=TransformerNet.MULTIPLE)


register(EngineSpec(
    name=ENGINE, config=FastConfig, build=FastEngine, kind="one-pass", style_images=False, uses_vgg=False,
    summary="Stylise photos with a trained feed-forward network (Johnson et al. 2016), one pass each.",
    model_for_style=model_for_style, model_kind=ENGINE,
    train_hint=lambda style: f"no fast model trained on {style.name}; train one with: nst train-fast --style {style}",
))
