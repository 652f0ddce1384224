"""Johnson, Alahi & Fei-Fei 2016: a feed-forward network per style (with Ulyanov's instance norm).

This package's ``__init__`` holds what the command line needs without torch: the configs, the constants
and the registry entry. :mod:`.engine` applies a trained model; :mod:`.train` trains one (perceptual loss,
distillation, the style bank).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...checkpoints import model_files, read_metadata
from ...errors import NSTError
from ...io import sha256_file
from ...layers import validate_layers
from ...options import check_fields, colour_option, option, to_dict
from ..registry import EngineSpec, register

ENGINE = "fast"
BASE_KIND = "fast_base"  # base networks (the style bank) live in fast_base/ models folders, apart from the style models
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

    # The default is a CPU recipe: grow a one-style network from the light AdaIN model (its encoder and
    # decoder with the painting's statistics held as parameters, so step 0 is `nst adain` with that
    # painting) and train all of it on the AdaIN paper's loss for that one painting, small crops of the
    # built-in photos: 300 steps, about 10 minutes on one thread of a 2-core CPU; `nst train-fast` stops
    # after 18 minutes by default (--max-minutes), so it ends within 20 on any machine. Judged on held-out
    # photos it is more stylised than `nst adain` with the same painting and closer to the photo
    # (docs/training-notes.md, "Fast models"). --base vgg19 grows the heavier network from the VGG-19 AdaIN
    # model's decoder (--lr 1e-4 --style-weight 2 --steps 200 were its settings; 4x slower to apply).
    # Johnson's loss on the style bank (the style-bank recipe; the bank is not shipped, train/fast_base_cpu.sh
    # rebuilds it): --base bank --loss gram --lr 1e-3 --style-weight 10 --tv-weight 5; the paper's: --base none --loss gram --size 256 --batch-size 4
    # --steps 40000 --lr 1e-3 --style-weight 10 --tv-weight 5 --max-minutes 0 (2 COCO epochs).
    size: int = option(128, "Training crop size, px (the paper: 256).", above=0)
    batch_size: int = option(4, "Images per step (the paper: 4).", above=0)
    steps: int = option(300, "Training steps in all (a resumed run continues up to this).", above=0)
    # 3e-4 for the light base (1e-4 suits --base vgg19; 1e-3 left it less stylised on the tuning painting).
    lr: float = option(3e-4, "Adam learning rate (1e-4 suits --base vgg19; Johnson's 1e-3 a TransformerNet, 1e-2 "
                             "--train-params norm).", above=0)
    width: int = option(32, "Channels of the first layer (paper 32; 12 runs ~4x faster on a CPU).", min=1, max=256)
    n_res: int = option(5, "Residual blocks (paper 5).", min=1, max=32)
    content_layers: tuple[str, ...] = option(("relu2_2",), "Comma-separated VGG layers of the content loss.")  # paper, 3.2
    style_layers: tuple[str, ...] = option(("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
                                           "Comma-separated VGG layers of the style loss.")  # paper, sec. 3.2
    content_weight: float = option(1.0, "Weight of the content loss.", min=0)
    # Each layer's loss is relative to its target's mean square (as in the gatys engine), so these
    # numbers are not the papers'. 4 with the light base: weight 2 left Great Wave and Summertime less stylised
    # than adain by the judge (0.06 and 0.03 log10), 4 made Great Wave and Café Terrace more stylised and still
    # closer to the photo; 2 suits --base vgg19; 10 with --loss gram: chosen by eye on held-out photos.
    style_weight: float = option(4.0, "Weight of the style loss; with --content-budget where its steering starts (2 suits "
                                        "--base vgg19, 10 --loss gram).", min=0)
    tv_weight: float = option(1.0, "Weight of the total-variation loss (5 with --loss gram).", min=0)
    # No fixed style weight suits every painting: at 4 the network for Village Street ended 0.085 log10 less
    # stylised than adain (judge) and 0.14 LPIPS closer to the photo, while Kazusa Sea Route at 8 went 0.05
    # LPIPS further from the photo than adain. The model starts as adain with the painting, so how far it has
    # drifted towards the photo is measurable while it trains. At 0.88 of the start's distance Village Street
    # stayed 0.015 short of adain's style; at 0.92 (style weight steered 4 → 7.8) it passed, and Kazusa Sea Route
    # (→ 6.5) was 0.085 more stylised at adain's LPIPS + 0.003 (docs/training-notes.md, "A content budget").
    content_budget: float = option(0.92, "With an AdaIN base: steer the style weight (from --style-weight, within x0.5 "
                                         "to x4 of it) so that the model's feature distance to the photo, on four "
                                         "training photos every 25 steps after the first third, is this fraction of "
                                         "its start's (adain with the painting); 0: a fixed style weight.", min=0, max=2)
    style_size: int = option(512, "Longest side of the style image during training, px.", above=0)
    photo_size: int = option(256, "Shorter side the training photos are resized to before the random crops, px "
                                "(0: 1.25 x --size; larger: crops nearer the photos' own scale).", min=0)  # measured: 256 with 128-px crops
    # Not in the paper: unclipped runs collapsed after ~2500 steps here.
    max_grad_norm: float | None = option(1.0, "Clip the gradient norm to this (0: off).")
    seed: int = option(0, "Seed of the initial weights and the crops.")
    checkpoint_every: int = option(50, "Write a checkpoint and a preview every N steps (0: only at the end).", min=0)
    vgg_weights: str = option("bundled", "VGG-19 weights of the loss network: bundled | torchvision | a file.")
    # Dumoulin, Shlens & Kudlur 2017: one network's convolutions serve many styles, each style being
    # only its instance-norm scales and shifts; a new style needs those few numbers trained.
    base: str = option("light", "Start from this trained base network: light (the light AdaIN model: small, fast "
                                 "models with an ONNX twin), vgg19 (the VGG-19 AdaIN model's decoder: 4x slower "
                                 "models, for users with time), bank (a style bank "
                                 "of 21 paintings, Dumoulin et al. 2017; not shipped: train/fast_base_cpu.sh in the "
                                 "source repository rebuilds it), another model's name or .safetensors file, "
                                 "or none (a random TransformerNet, the paper). A base's own architecture replaces "
                                 "--width/--n-res.")
    train_params: str = option("all", "Weights to train: all (the paper) | norm (only the instance-norm scales and "
                                      "shifts of a style-bank base, Dumoulin et al. 2017: a new style in few steps).",
                                choices=TRAIN_PARAMS)
    loss: str = option("adain", "Perceptual loss: gram (Johnson et al.: Gram matrices of --style-layers, content at "
                               "--content-layers) | adain (Huang & Belongie: mean and std of relu1_1...relu4_1, content "
                               "at relu4_1 against the photo's features with the painting's statistics).", choices=LOSSES)

    def validate(self) -> None:
        check_fields(self)  # width and n-res: what a model file may declare (checkpoints.ARCHITECTURES)
        validate_layers(self.content_layers)
        validate_layers(self.style_layers)

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass(frozen=True)
class FastConfig:
    """Defaults of `nst fast`."""

    model: str = option("great_wave", "Trained model: a name from `nst models`, a .safetensors path, "
                                       "or all (every model on one photo, as a labelled sheet).", short="-m")
    size: int = option(512, "Longest side of the content (output), px; the photo is resized to it, as `nst adain` "
                            "does (pass its own longest side to keep its size).", above=0)
    preserve_color: str = colour_option()
    tile: int | None = option(None, TILE_HELP, min=0)

    def validate(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict:
        return to_dict(self)



def torch_free_runner(config: FastConfig, inputs: list[Path], styles: list[Path]) -> Any:
    """The model's exported ONNX twin in onnxruntime, or None when it cannot serve these inputs."""
    from .onnx import runner

    return runner(config, inputs, styles)


def torch_free_frames(config: FastConfig, styles: list[Path], size: tuple[int, int], threads: int | None = None) -> Any:
    """The twin as a function from frames of ``size`` to their results (`nst video`), or None."""
    from .onnx import frame_runner

    return frame_runner(config, styles, [size], threads)


def build_engine(config: FastConfig = FastConfig(), net: Any = None) -> Any:
    """The engine of ``config`` (imports torch and the networks)."""
    from .engine import FastEngine

    return FastEngine(config, net)


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



register(EngineSpec(
    name=ENGINE, config=FastConfig, build=build_engine, kind="one-pass", style_images=False, uses_vgg=False,
    summary="Stylise photos with a trained feed-forward network (Johnson et al. 2016), one pass each.",
    model_for_style=model_for_style, model_kind=ENGINE, torch_free=torch_free_runner,
    torch_free_frames=torch_free_frames,
    train_hint=lambda style: f"no fast model trained on {style.name}; train one with: nst train-fast --style {style}",
))
