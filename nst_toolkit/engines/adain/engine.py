"""The AdaIN engine at work: encode, match statistics, decode (whole or in tiles), with a VGG-19 decoder or the
light model. Configs and constants: :mod:`nst_toolkit.engines.adain`; training: :mod:`.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import colour, losses
from ...checkpoints import load_model, model_dirs, read_metadata, resolve_model_file
from ...errors import NSTError
from ...images import resize_longest
from ...memory import choose_tile
from ...nets import AdaINDecoder, LightAdaIN
from ...optimize import Step
from ...styles import StyleSet, StylesLike, as_style_set, blend_weights, check_image_tensor, prepare_mask
from ...tiling import check_finite_output, pad_to_multiple, run_padded, run_tiled
from ...vgg import VGGFeatures, shared_or_new
from ..base import EngineBase, require_styles
from . import BYTES_PER_PIXEL, ENCODER_LAYER, ENGINE, MODEL_ALIASES, MULTIPLE, TILE_HALO, AdaINConfig


def resolve_decoder(name_or_path: str) -> Path:
    """A shipped or local decoder name, or a file path → the file."""
    return resolve_model_file(MODEL_ALIASES.get(name_or_path, name_or_path), model_dirs(ENGINE), "AdaIN decoder")


def load_decoder(path: str | Path) -> tuple[AdaINDecoder, dict[str, Any]]:
    return load_model(path, ENGINE, "AdaINDecoder", lambda a: AdaINDecoder(float(a.get("feature_scale", 0.01))))


def load_adain(path: str | Path) -> tuple[AdaINDecoder | LightAdaIN, dict[str, Any]]:
    """A VGG-19 AdaIN decoder or a light AdaIN model, by the architecture its metadata names."""
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
        arch = "light" if self.light is not None else "vgg"
        tile = choose_tile(cfg.tile, pixels, BYTES_PER_PIXEL[arch], MULTIPLE, TILE_HALO[arch])
        efdm = cfg.transfer == "efdm"
        if efdm and m is not None:
            raise NSTError("--transfer efdm takes no mask (use adain for two styles under a mask)")
        if efdm and tile is not None:
            raise NSTError(f"--transfer efdm ranks the whole image's features at once, so it cannot go in tiles; "
                           f"at {content.shape[-1]}×{content.shape[-2]} px use --tile 0 (memory permitting) or adain")
        if tile is not None and m is None and content.shape[0] == 1:
            # Tiles of the image padded as the untiled pass pads it, so the statistics see the same pixels.
            padded = pad_to_multiple(content, MULTIPLE)
            out = run_tiled(self._tile_function(padded, stats, w, tile), padded, tile=tile, halo=TILE_HALO[arch],
                            multiple=MULTIPLE)[..., : content.shape[-2], : content.shape[-1]]
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
                moved.append(losses.alpha_mix(t, fc, cfg.alpha))
            return self._decode(levels, moved)

        return check_finite_output(run_padded(run, content, MULTIPLE), f"AdaIN decoder {cfg.model}")

    def _tile_function(self, content: Tensor, stats, weights, tile: int) -> Callable[[Tensor], Tensor]:
        """Per-tile AdaIN with the whole image's content statistics (at each level the codes describe),
        gathered exactly in a first pass over non-overlapping tiles (the encoder has no normalisation, so
        tiles with margins are exact)."""
        h, w = content.shape[-2:]
        halo = TILE_HALO["light" if self.light is not None else "vgg"]
        codes = [per_level(c) for c in stats]
        n = len(codes[0])
        scales = [MULTIPLE] if n == 1 else [MULTIPLE >> (n - 1 - i) for i in range(n)]  # full resolution first
        totals: list = [None] * n
        squares: list = [None] * n
        counts = [0] * n
        parts = lambda n: [(a, min(a + tile, n)) for a in range(0, n, tile)]  # disjoint: each feature counted once
        for y0, y1 in parts(h):
            for x0, x1 in parts(w):
                cy0, cx0 = max(0, y0 - halo) // MULTIPLE * MULTIPLE, max(0, x0 - halo) // MULTIPLE * MULTIPLE
                crop = content[..., cy0 : min(h, y1 + halo), cx0 : min(w, x1 + halo)]
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
                    moved.append(losses.alpha_mix(t, fc, alpha))
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
