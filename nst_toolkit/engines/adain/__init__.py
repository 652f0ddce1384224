"""Huang & Belongie 2017: arbitrary style in one pass — VGG encoder, AdaIN at relu4_1, trained decoder.

This package's ``__init__`` holds what the command line needs without torch: the configs, the constants
and the registry entry. :mod:`.engine` runs the networks (imported when an engine is built), :mod:`.train`
trains them, and :mod:`.onnx` runs an exported light model in onnxruntime, so `nst adain` with such a
model need not import torch at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...errors import NSTError
from ...layers import validate_layers
from ...options import check_fields, colour_option, option, to_dict
from ..registry import EngineSpec, register

ENGINE = "adain"
TILE_HELP = ("Stylise in tiles of this many px with the whole image's statistics (bounded memory, any size); "
             "default: tiles of about 0.4 GiB of activations when the image would need over 1 GiB at once; 0: never.")
ENCODER_LAYER = "relu4_1"  # paper, sec. 6.1
PHOTO_LAYER = "relu4_2"  # Gatys et al. 2016's content layer, for --photo-weight
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # paper, sec. 6.2
MULTIPLE = 8  # three poolings before relu4_1
ARCHS = ("vgg", "light")
TRANSFERS = ("adain", "efdm")
# The margin a tile needs for an exact result, by architecture: VGG-19 to relu4_1 sees ±34 px and its decoder ±30 px
# more; the light encoder ±22 px and its decoder ±86 px (four residual blocks at 1/8 resolution: ±64 px of it).
TILE_HALO = {"vgg": 72, "light": 112}
# Peak activation memory of an untiled pass, bytes per pixel (RSS growth measured at 1024² on the CPU).
BYTES_PER_PIXEL = {"vgg": 1000.0, "light": 500.0}  # vgg: 952 B/px measured; light: estimated (its skip levels: +0.1 kB)
MODEL_ALIASES = {"default": "vgg19"}  # the VGG-19 model's name while it was the default
DEFAULT_NOTE = ("judged by an independent VGG-16/LPIPS network on 50 held-out photo-painting pairs at 512 px: style "
                "distance -4.558 log10, LPIPS to the photo 0.603, against vgg19's -4.569 and 0.644 (lower is better) "
                "in about a ninth of the time")
EMBED_SCALE = 0.01  # the light encoder's embedding predicts relu4_1 × this (the VGG decoder's feature_scale)


@dataclass(frozen=True)
class AdaINTrainConfig:
    """Defaults of `nst train-adain`; each value's source is in its comment."""

    size: int = option(256, "Training crop size, px.", above=0)  # paper: 256 crops of images resized to 512
    # By default the photos and paintings both keep a shorter side of size × 1.25 (320 px), so a painting is
    # seen at 0.67-0.84 of the scale `nst adain` shows it at (its longest side 512 px, about 380 px short).
    style_short_side: int = option(0, "Shorter side the style images are kept at before the random crops, px "
                                      "(0: --size × 1.25, as the photos; never below --size).", min=0)
    batch_size: int = option(8, "Content/style pairs per step.", above=0)  # paper, sec. 6.1
    steps: int = option(20000, "Training steps in all (a resumed run continues up to this).", above=0)  # paper: 160k
    # Departure: first train the decoder to invert the encoder (target = content features plus a
    # pixel loss, no style), which converges fast, then switch to the AdaIN objective.
    warmup_steps: int = option(1000, "Steps of plain encoder inversion before the AdaIN objective.", min=0)
    lr: float = option(1e-4, "Adam learning rate.", above=0)  # paper's reference code
    lr_decay: float = option(5e-5, "Inverse-time decay: lr / (1 + decay * step).", min=0)  # reference code
    # Losses are relative to their targets' mean square (as in the other engines), so this is not
    # the paper's λ = 10 but plays its role.
    style_weight: float = option(10.0, "Weight of the style (mean/std) loss.", min=0)
    # Measured: the light model's largest style gap to the VGG-19 model was at relu5_1,
    # which the paper's loss never sees.
    style_layers: tuple[str, ...] = option(STYLE_LAYERS, "Comma-separated VGG-19 layers of the style (mean/std) "
                                                         "loss (the paper's: relu1_1 ... relu4_1).")
    # Mean and std per channel leave the channels' correlations free, where the light
    # model's texture fell short of the VGG-19 model's (relu3_1 … relu5_1 Gram distances).
    gram_weight: float = option(0.0, "Weight of a Gram-matrix style loss at --gram-layers (relative Gram "
                                     "error), beside the mean/std one (0: off).", min=0)
    # Measured: the light model matched the painting's Gram better than the VGG-19 model at relu1_1 and worse at
    # relu4_1 and relu5_1; the Gram loss can leave the shallow layers to the mean/std loss.
    gram_layers: tuple[str, ...] = option((), "Comma-separated VGG-19 layers of the Gram loss (default: "
                                              "--style-layers).")
    # AdaIN's content target is the transferred features, never the photo; on a
    # heavily textured painting the light model drifted further from the photo's layout than the VGG-19 model.
    photo_weight: float = option(0.0, "Weight of a content loss against the photo itself (Gatys et al.'s: "
                                      "VGG-19 relu4_2, relative), beside AdaIN's against the transferred "
                                      "features (0: off).", min=0)
    pixel_weight: float = option(1.0, "Weight of the pixel loss during the warm-up.", min=0)
    max_grad_norm: float | None = option(None, "Clip the gradient norm to this (0 or unset: off).")  # paper: none
    seed: int = option(0, "Seed of the initial weights and the crops.")
    checkpoint_every: int = option(1000, "Write a checkpoint and a preview every N steps (0: only at the end).",
                                  min=0)
    # The decoder only fits the encoder it was trained with.
    vgg_weights: str = option("bundled", "VGG-19 encoder weights: bundled | torchvision | a file.")
    # --- the light model: a small encoder and decoder distilled from a trained VGG-19 model ---
    arch: str = option("vgg", "vgg: VGG-19 encoder and a trained decoder (the paper) | "
                              "light: a small encoder and decoder distilled from --teacher.", choices=ARCHS)
    teacher: str = option("vgg19", "For --arch light: the VGG-19 AdaIN model to distil (name or path).")
    widths: tuple[int, ...] = option((16, 32, 64, 256), "For --arch light: channels of the encoder's four blocks.")
    # Reconstructing the photo through relu4_1 alone left alpha 0 at SSIM 0.65; skips gated by
    # 1 - alpha give the detail back at alpha 0 and are off at alpha 1. Style skips: AdaIN at
    # every encoder level, into the decoder, gated by alpha; together they closed much of the style gap.
    skips: bool = option(False, "For --arch light: skip branches from the encoder into the decoder, "
                                "weighted by 1 - alpha (alpha 0 reconstructs the photo through them).")
    style_skips: bool = option(False, "For --arch light: skip branches carrying each encoder level after AdaIN "
                                      "with the style's statistics at that level, weighted by alpha.")
    blocks: int = option(0, "For --arch light: residual blocks in the decoder at 1/8 resolution.", min=0, max=16)
    decoder_widths: tuple[int, ...] = option((), "For --arch light: channels of the decoder's six convolutions "
                                                 "before the last, 1/8 resolution first (default: the encoder's, "
                                                 "mirrored).")
    # Distillation, reconstruction and embedding terms are each relative (L1 on [0, 1] pixels; the
    # embedding MSE divided by its target's mean square), so weights near 1 balance them.
    distill_weight: float = option(1.0, "For --arch light: weight of the L1 distance to the teacher's stylisation "
                                        "(0: the teacher's decoder is not run).", min=0)
    reconstruct_weight: float = option(1.0, "For --arch light: weight of decoding the content back (alpha 0).",
                                      min=0)
    embed_weight: float = option(0.5, "For --arch light: weight of matching VGG-19 relu4_1 through a 1x1 embedding.",
                                min=0)
    # Pixel distillation alone gave blurry, weakly stylised output: this adds
    # the paper's own objective on the student's output, so it learns the texture, not a blur of it.
    perceptual_weight: float = option(0.0, "For --arch light: weight of the paper's content and style loss "
                                            "(VGG-19; style times --style-weight) on the student's stylisation "
                                            "(0: pixel distillation only).", min=0)
    # Measured: the light model's Gram gap to the painting sat at relu4_1 and relu5_1; the painting's
    # own Gram there may be out of reach for a picture with the photo's layout, the teacher's picture of the pair is not.
    teacher_gram_weight: float = option(0.0, "For --arch light: weight of a Gram loss at --teacher-gram-layers "
                                             "against the teacher's stylisation of the same pair (relative Gram "
                                             "error; 0: off).", min=0)
    teacher_gram_layers: tuple[str, ...] = option(("relu4_1", "relu5_1"), "For --arch light: comma-separated VGG-19 "
                                                                          "layers of --teacher-gram-weight's loss.")
    # Measured: the light model beat the VGG-19 model's content on one painting and its style on another, and
    # missed the other number on each; the bound aims each pair at the teacher's content instead of as near as possible.
    photo_bound: bool = option(False, "For --arch light: the photo loss counts, pair by pair, only where the "
                                      "stylisation is further from the photo (relu4_2, relative) than the teacher's "
                                      "stylisation of the same pair.")

    def validate(self) -> None:
        check_fields(self)
        if not self.style_layers:
            raise NSTError("style-layers must name at least one VGG-19 layer")
        validate_layers(self.style_layers)
        validate_layers(self.gram_at())
        if not self.teacher_gram_layers:
            raise NSTError("teacher-gram-layers must name at least one VGG-19 layer")
        validate_layers(self.teacher_gram_layers)
        if self.teacher_gram_weight and self.arch != "light":
            raise NSTError("teacher-gram-weight needs --arch light (a teacher to distil)")
        if self.photo_bound and (self.arch != "light" or not self.photo_weight or not self.perceptual_weight):
            raise NSTError("photo-bound needs --arch light, --photo-weight and --perceptual-weight above 0")
        if len(self.widths) != 4 or any(not 1 <= w <= 1024 for w in self.widths):
            raise NSTError(f"widths must be four channel counts in 1..1024, not {self.widths}")
        if self.decoder_widths and (len(self.decoder_widths) != 6 or any(not 1 <= w <= 1024 for w in self.decoder_widths)):
            raise NSTError(f"decoder widths must be six channel counts in 1..1024, not {self.decoder_widths}")

    def gram_at(self) -> tuple[str, ...]:
        """The layers of the Gram loss: --gram-layers, or --style-layers when it names none."""
        return self.gram_layers or self.style_layers

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass(frozen=True)
class AdaINConfig:
    """Defaults of `nst adain`."""

    # The light model is the default: by the independent judge on 50 held-out pairs it is as stylised as the
    # VGG-19 model and closer to the photo (DEFAULT_NOTE), at a fraction of the time, and runs without torch.
    model: str = option("light", "Model: a name from `nst models` (light: the small distilled network, the default; "
                                 "vgg19: the paper's VGG-19 encoder and decoder), a .safetensors path, "
                                 "or all (every model on one photo, as a labelled sheet).", short="-m")
    alpha: float = option(1.0, "Content-style trade-off: 0 keeps the content, 1 is full style.", min=0, max=1)  # paper, sec. 7.1
    # EFDM (Zhang et al., CVPR 2022) is a drop-in for the statistics step; the decoder stays the same.
    transfer: str = option("adain", "Feature transfer: adain (the style's mean and std per channel, the paper) | "
                                    "efdm (its whole distribution per channel, Zhang et al. 2022).", choices=TRANSFERS)
    size: int = option(512, "Longest side of the content (output), px.", above=0)
    style_size: int = option(512, "Longest side of each style image, px.", above=0)
    preserve_color: str = colour_option()  # the paper (sec. 7.1) uses histogram matching
    tile: int | None = option(None, TILE_HELP, min=0)

    def validate(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict:
        return to_dict(self)


def build_engine(config: AdaINConfig = AdaINConfig(), vgg: Any = None) -> Any:
    """The engine of ``config`` (imports torch and the networks)."""
    from .engine import AdaINEngine

    return AdaINEngine(config, vgg=vgg)


def torch_free_runner(config: AdaINConfig, inputs: list[Path], styles: list[Path]) -> Callable[[Path], Any] | None:
    """The model's exported ONNX twin in onnxruntime, or None when it cannot serve these inputs."""
    from .onnx import runner

    return runner(config, inputs, styles)


register(EngineSpec(
    name=ENGINE, config=AdaINConfig, build=build_engine, kind="one-pass", model_kind=ENGINE,
    summary="Arbitrary style transfer in one pass (AdaIN, Huang & Belongie 2017).",
    model_aliases=MODEL_ALIASES, default_note=DEFAULT_NOTE,
    torch_free=torch_free_runner,
))
