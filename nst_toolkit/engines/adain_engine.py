"""The AdaIN engine's networks at work: encode, match statistics, decode (whole or in tiles); training
of the VGG-19 decoder and distillation of the light model. Configs and constants: :mod:`.adain`."""

from __future__ import annotations

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
from ..io import sha256_file
from ..memory import choose_tile
from ..nets import AdaINDecoder, LightAdaIN, init_seeded
from ..optimize import Step
from ..styles import StyleSet, StylesLike, as_style_set, blend_weights, check_image_tensor, prepare_mask
from ..tiling import check_finite_output, pad_to_multiple, run_padded, run_tiled
from ..training import TrainingTask, distilled_from
from ..vgg import VGGFeatures, shared_or_new, validate_layers
from .adain import (BYTES_PER_PIXEL, EMBED_SCALE, ENCODER_LAYER, ENGINE, MULTIPLE, PHOTO_LAYER, STYLE_LAYERS, TILE_HALO,
                    AdaINConfig, AdaINTrainConfig)
from .base import EngineBase, require_styles, target_scale


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


def resolve_decoder(name_or_path: str) -> Path:
    """A shipped or local decoder name, or a file path → the file."""
    return resolve_model_file(name_or_path, model_dirs(ENGINE), "AdaIN decoder")


def load_decoder(path: str | Path) -> tuple[AdaINDecoder, dict[str, Any]]:
    return load_model(path, ENGINE, "AdaINDecoder", lambda a: AdaINDecoder(float(a.get("feature_scale", 0.01))))


def load_adain(path: str | Path) -> tuple[AdaINDecoder | LightAdaIN, dict[str, Any]]:
    """A VGG-19 AdaIN decoder or a light AdaIN model, by the architecture its metadata names."""
    from ..checkpoints import read_metadata

    spec = read_metadata(path).get("architecture")
    if isinstance(spec, dict) and spec.get("arch") == "LightAdaIN":
        return load_model(path, ENGINE, "LightAdaIN", LightAdaIN.from_architecture)
    return load_decoder(path)


class AdaINEngine(EngineBase):
    """Encoder (shared VGG-19 to relu4_1) → AdaIN → trained decoder. Style statistics can be computed once."""

    name = ENGINE

    def __init__(self, config: AdaINConfig = AdaINConfig(), decoder: AdaINDecoder | LightAdaIN | None = None,
                 vgg: VGGFeatures | None = None):
        config.validate()
        self.config = config
        if decoder is None:
            decoder, self.meta = load_adain(resolve_decoder(config.model))
        else:
            self.meta = {}
        decoder.eval()
        self.light = decoder if isinstance(decoder, LightAdaIN) else None
        if self.light is not None:  # its own small encoder: no VGG-19 at all
            self.decoder, self.vgg = self.light.decoder, None
        else:
            self.decoder = decoder
            self.vgg = shared_or_new(vgg, [ENCODER_LAYER], self.meta.get("encoder", {}).get("weights", "bundled"))

    def to(self, device: torch.device) -> "AdaINEngine":
        for m in (self.vgg, self.light, self.decoder):
            if m is not None:
                m.to(device)
        return self

    def encode(self, image: Tensor) -> Tensor:
        if self.light is not None:
            return self.light.encoder(image)
        return self.vgg(image, [ENCODER_LAYER])[ENCODER_LAYER]

    def _content_levels(self, image: Tensor) -> list[Tensor]:
        """The features the transfer and the decoder take: [relu4_1], or for a light model with skip
        branches its four encoder levels (full resolution first, relu4_1's stand-in last)."""
        if self.light is not None and (self.light.has_skips or self.light.has_style_skips):
            return self.light.encoder.levels(image)
        return [self.encode(image)]

    def _decode(self, levels: list[Tensor], moved: list[Tensor]) -> Tensor:
        """Decode the transferred (alpha-mixed) features ``moved``; ``levels`` are the content's."""
        if self.light is None or len(levels) == 1:
            return self.decoder(moved[-1])
        alpha = self.config.alpha
        content = levels if self.light.has_skips and alpha < 1 else None
        transferred = moved if len(moved) == len(levels) and alpha > 0 else None
        return self.decoder(moved[-1], content, transferred, alpha)

    @torch.no_grad()
    def style_stats(self, style: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, std) of a style image's relu4_1 features, as given (no resizing, no colour change)."""
        check_image_tensor(style, "style")
        self.to(style.device)
        return losses.mean_std(self.encode(style))

    @torch.no_grad()
    def style_sorted(self, style: Tensor) -> Tensor:
        """A style image's relu4_1 values per channel in ascending order (what EFDM matches)."""
        check_image_tensor(style, "style")
        self.to(style.device)
        return losses.sorted_features(self.encode(style))

    @torch.no_grad()
    def style_code(self, style: Tensor) -> Any:
        """What the transfer needs of one style image, as given: :meth:`style_stats` (adain) or
        :meth:`style_sorted` (efdm) — for a light model with style skips, a list of those for each encoder
        level, full resolution first."""
        if self.light is None or not self.light.has_style_skips:
            return (self.style_sorted if self.config.transfer == "efdm" else self.style_stats)(style)
        check_image_tensor(style, "style")
        self.to(style.device)
        code = losses.sorted_features if self.config.transfer == "efdm" else losses.mean_std
        return [code(f) for f in self.light.encoder.levels(style)]

    def encode_styles(self, styles: StyleSet) -> list:
        """Each style resized to ``style_size`` and encoded to what the transfer needs (:meth:`style_code`)."""
        return [self.style_code(resize_longest(s, self.config.style_size)) for s in styles.images]

    @torch.no_grad()
    def stylize_with_stats(
        self,
        content: Tensor,
        stats: Sequence,
        weights: Sequence[float] | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Stylise ``content`` with precomputed style statistics (no colour preservation here): (mean, std)
        pairs, or with ``transfer`` efdm the sorted features — or lists of either per encoder level for a
        light model with style skips (:meth:`encode_styles` makes them all).

        Several styles are interpolated with ``weights`` (the rule of :mod:`nst_toolkit.styles`). With
        ``mask`` (two styles, adain only) the first style goes where the mask is white and the second
        where it is black, each region normalised with its own content statistics.
        """
        check_image_tensor(content, "content")
        if not stats:
            raise NSTError("at least one style is needed")
        cfg = self.config
        self.to(content.device)
        m = prepare_mask(mask, content) if mask is not None else None
        if m is not None and len(stats) != 2:
            raise NSTError(f"a mask needs exactly two styles (foreground, background), got {len(stats)}")
        w = blend_weights(weights, len(stats)) if m is None else (1.0, 1.0)
        pixels = content.shape[-2] * content.shape[-1]
        tile = choose_tile(cfg.tile, pixels, BYTES_PER_PIXEL["light" if self.light is not None else "vgg"], MULTIPLE,
                           TILE_HALO)
        efdm = cfg.transfer == "efdm"
        if efdm and m is not None:
            raise NSTError("--transfer efdm takes no mask (use adain for two styles under a mask)")
        if efdm and tile is not None:
            raise NSTError(f"--transfer efdm ranks the whole image's features at once, so it cannot go in tiles; "
                           f"at {content.shape[-1]}×{content.shape[-2]} px use --tile 0 (memory permitting) or adain")
        if tile is not None and m is None and content.shape[0] == 1:
            out = run_tiled(self._tile_function(content, stats, w, tile), content, tile=tile, halo=TILE_HALO,
                            multiple=MULTIPLE)
            return check_finite_output(out, f"AdaIN model {cfg.model}")

        codes = [per_level(c) for c in stats]

        def run(padded: Tensor) -> Tensor:
            levels = self._content_levels(padded)
            mp = None if m is None else F.pad(m, (0, padded.shape[-1] - m.shape[-1], 0, padded.shape[-2] - m.shape[-2]),
                                              mode="replicate")
            moved = []
            for i, fc in enumerate(levels[len(levels) - len(codes[0]):]):  # the levels the codes describe
                if efdm:
                    t = sum(wi * losses.efdm(fc, c[i]) for wi, c in zip(w, codes))
                elif mp is None:
                    t = sum(wi * losses.adain(fc, *c[i]) for wi, c in zip(w, codes))
                else:
                    mf = F.interpolate(mp, size=fc.shape[-2:], mode="nearest")
                    t = masked_adain(fc, mf, codes[0][i]) * mf + masked_adain(fc, 1 - mf, codes[1][i]) * (1 - mf)
                moved.append(cfg.alpha * t + (1 - cfg.alpha) * fc)  # paper, eq. 10
            return self._decode(levels, moved)

        return check_finite_output(run_padded(run, content, MULTIPLE), f"AdaIN decoder {cfg.model}")

    def _tile_function(self, content: Tensor, stats, weights, tile: int) -> Callable[[Tensor], Tensor]:
        """Per-tile AdaIN with the whole image's content statistics (at each level the codes describe),
        gathered exactly in a first pass over non-overlapping tiles (the encoder has no normalisation, so
        tiles with margins are exact)."""
        h, w = content.shape[-2:]
        codes = [per_level(c) for c in stats]
        n = len(codes[0])
        scales = [MULTIPLE] if n == 1 else [MULTIPLE >> (n - 1 - i) for i in range(n)]  # full resolution first
        totals: list = [None] * n
        squares: list = [None] * n
        counts = [0] * n
        parts = lambda n: [(a, min(a + tile, n)) for a in range(0, n, tile)]  # disjoint: each feature counted once
        for y0, y1 in parts(h):
            for x0, x1 in parts(w):
                cy0, cx0 = max(0, y0 - TILE_HALO) // MULTIPLE * MULTIPLE, max(0, x0 - TILE_HALO) // MULTIPLE * MULTIPLE
                crop = content[..., cy0 : min(h, y1 + TILE_HALO), cx0 : min(w, x1 + TILE_HALO)]
                levels = self._content_levels(pad_to_multiple(crop, MULTIPLE))[-n:]
                for i, (f, k) in enumerate(zip(levels, scales)):
                    f = f.double()[..., (y0 - cy0) // k : -(-(y1 - cy0) // k), (x0 - cx0) // k : -(-(x1 - cx0) // k)]
                    s1, s2 = f.sum(dim=(2, 3), keepdim=True), f.square().sum(dim=(2, 3), keepdim=True)
                    totals[i] = s1 if totals[i] is None else totals[i] + s1
                    squares[i] = s2 if squares[i] is None else squares[i] + s2
                    counts[i] += f.shape[-2] * f.shape[-1]
        means = [t / c for t, c in zip(totals, counts)]
        stds = [((q / c - m.square()).clamp_min(0) + losses.EPS).sqrt().float() for q, c, m in zip(squares, counts, means)]
        means = [m.float() for m in means]
        alpha = self.config.alpha

        def run(crop: Tensor) -> Tensor:
            def net(padded: Tensor) -> Tensor:
                levels = self._content_levels(padded)
                moved = []
                for i, fc in enumerate(levels[len(levels) - n:]):
                    norm = (fc - means[i]) / stds[i]
                    t = sum(wi * (norm * c[i][1] + c[i][0]) for wi, c in zip(weights, codes))
                    moved.append(alpha * t + (1 - alpha) * fc)
                return self._decode(levels, moved)

            return run_padded(net, crop, MULTIPLE)

        return run

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


def per_level(code: Any) -> list:
    """A style's code as a list over the levels it describes (one entry, relu4_1, unless a light model with
    style skips made it)."""
    return code if isinstance(code, list) else [code]


def masked_adain(features: Tensor, mask: Tensor, stats: tuple[Tensor, Tensor], eps: float = losses.EPS) -> Tensor:
    """AdaIN with the content statistics taken inside ``mask`` (N×1×h×w, 0/1) only."""
    area = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (features * mask).sum(dim=(2, 3), keepdim=True) / area
    var = ((features - mean).square() * mask).sum(dim=(2, 3), keepdim=True) / area
    return (features - mean) / (var + eps).sqrt() * stats[1] + stats[0]
