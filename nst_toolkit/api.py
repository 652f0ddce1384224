"""The toolkit from Python: one call per picture, with the command line's engines and option names.

    from nst_toolkit import stylize
    picture = stylize("photo.jpg", "painting.jpg", engine="adain", size=512)   # a PIL image
    picture.save("out.png")

Images may be file paths, PIL images, numpy arrays (H×W×3, uint8 0…255 or float 0…1) or tensors
(3×H×W or 1×3×H×W, float 0…1). Options are the config fields of the engine (``nst ENGINE --help`` lists
them, with ``-`` written ``_``), checked as the command line checks them; a bad value raises
:class:`~nst_toolkit.errors.NSTError` with the command line's one-line message. The command line and the
web page build their engines and read their images through the same functions (:func:`configure`,
:func:`build`, :func:`as_tensor`, :func:`pick_device`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

from .errors import ImageError, NSTError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

    from .engines.base import Engine
    from .optimize import Step

ImageLike = Union[str, Path, "Image.Image", "np.ndarray", "torch.Tensor"]


def pick_device(name: str = "auto") -> "torch.device":
    """``auto`` (CUDA, else MPS, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; refused when absent."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise NSTError(f"device must be auto, cpu, cuda or mps, not '{name}'")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NSTError("CUDA was asked for but is not available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise NSTError("MPS was asked for but is not available")
    return torch.device(name)


def configure(engine: str, options: Mapping[str, Any] | None = None, base: Any = None) -> Any:
    """The validated config of ``engine``: its defaults (or ``base``) with ``options`` (field names, values typed
    or as text), an old model name replaced by today's."""
    from .catalog import resolve_alias
    from .engines import registry
    from .options import build_config

    cfg = build_config(registry.get(engine).config, dict(options or {}), base)
    if isinstance(getattr(cfg, "model", None), str):
        cfg = replace(cfg, model=resolve_alias(engine, cfg.model)[0])
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def build(engine: str, config: Any = None, vgg: Any = None) -> "Engine":
    """The engine ``engine`` from its config (its defaults when None), sharing ``vgg`` where it can."""
    from .engines import registry

    return registry.build(engine, config if config is not None else configure(engine), vgg)


def memory_check(engine: str, config: Any) -> Callable[[int, int], None]:
    """A check, ``check(width, height)``, that refuses before anything is loaded a result of that many px which
    ``engine`` with ``config`` could not hold in the memory available now (one line naming the largest size
    that fits). The model's header is read once, here, for a folder of photos."""
    from .engines import registry
    from .memory import require_one_pass

    if hasattr(config, "check_memory"):
        return lambda width, height: config.check_memory(width, height, engine)
    if registry.get(engine).kind != "one-pass":
        return lambda width, height: None
    from .catalog import activation_bytes_per_pixel

    tile, per_pixel = getattr(config, "tile", None), activation_bytes_per_pixel(engine, config)
    return lambda width, height: require_one_pass(engine, width, height, tile, per_pixel)


def check_memory(engine: str, config: Any, width: int, height: int) -> None:
    """:func:`memory_check` for one size."""
    memory_check(engine, config)(width, height)


def input_size(image: ImageLike) -> tuple[int, int] | None:
    """(width, height) of an image the API takes, from a file's header alone; None for what it cannot read."""
    import numpy as np

    from .imagefiles import image_size

    if isinstance(image, (str, Path)):
        return image_size(image)
    if hasattr(image, "size") and isinstance(getattr(image, "size"), tuple):  # PIL
        return image.size
    if isinstance(image, np.ndarray) and image.ndim >= 2:
        return image.shape[1], image.shape[0]
    shape = getattr(image, "shape", None)
    return (int(shape[-1]), int(shape[-2])) if shape is not None and len(shape) >= 2 else None


def as_tensor(image: ImageLike, size: int | None = None, what: str = "image") -> "torch.Tensor":
    """Any image the API takes as float32 1×3×H×W in [0, 1], its longest side resized to ``size`` if given.
    Files go through the same guards as the command line's (size limits, decoding errors)."""
    import numpy as np
    import torch
    from PIL import Image

    from .images import check_min_size, load_image, pil_to_tensor, resize_longest

    if isinstance(image, (str, Path)):
        return load_image(image, size)
    if isinstance(image, Image.Image):
        x = pil_to_tensor(image)
    elif isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise ImageError(f"{what}: a numpy image must be H×W×3 (or H×W×4, H×W), not {a.shape}")
        a = a[..., :3]
        x = torch.from_numpy(np.array(a)).permute(2, 0, 1).unsqueeze(0)  # a copy: the caller's array stays theirs
        x = x.float().div(255.0) if a.dtype == np.uint8 else x.float()
    elif isinstance(image, torch.Tensor):
        x = image.detach().float()
        x = x.unsqueeze(0) if x.dim() == 3 else x
        if x.dim() != 4 or x.shape[:2] != (1, 3):
            raise ImageError(f"{what}: a tensor image must be 3×H×W or 1×3×H×W, not {tuple(image.shape)}")
        x = x.cpu().clone()
    else:
        raise ImageError(f"{what}: expected a file path, PIL image, numpy array or tensor, not {type(image).__name__}")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ImageError(f"{what}: pixel values must be finite and within [0, 1] (uint8 arrays: 0…255)")
    check_min_size(x, what)
    if size is not None:
        x = resize_longest(x, size)
        check_min_size(x, f"{what} at size {size}")
    return x


def run(engine: "Engine", content: "torch.Tensor", styles: Any, kind: str,
        on_progress: Callable[["Step"], None] | None = None) -> "torch.Tensor":
    """``engine.stylize`` as every entry point runs it: one-pass engines without autograd, optimisation
    engines reporting each step to ``on_progress``."""
    import torch

    with torch.inference_mode(kind == "one-pass"):
        return engine.stylize(content, styles, on_step=on_progress)


def stylize(content: ImageLike, style: ImageLike | Sequence[ImageLike] | None = None, *, engine: str = "adain",
            style_weights: Sequence[float] | None = None, mask: ImageLike | None = None,
            on_progress: Callable[["Step"], None] | None = None, device: str = "auto", **options: Any) -> "Image.Image":
    """Stylise ``content`` with ``style`` (one image, or several blended by ``style_weights``; two under a
    ``mask``: the first where it is white) by ``engine`` — gatys, improved, fast (no style: ``model=NAME``)
    or adain — with that engine's options by name, e.g. ``stylize(photo, painting, engine="gatys",
    iterations=200, style_weight=10)``. ``on_progress`` receives each optimisation step
    (:class:`~nst_toolkit.optimize.Step`: iteration, total, losses, image). Returns a PIL image."""
    from .engines import registry
    from .images import tensor_to_pil
    from .styles import StyleSet

    spec = registry.get(engine)
    cfg = configure(engine, options)
    dev = pick_device(device)
    size = getattr(cfg, "size", None)
    dims = input_size(content)
    if dims is not None:
        from .memory import output_size

        check_memory(engine, cfg, *output_size(*dims, size))
    x = as_tensor(content, size, "content").to(dev)
    styles_in = [] if style is None else list(style) if isinstance(style, (list, tuple)) else [style]
    if spec.style_images:
        if not styles_in:
            raise NSTError(f"{engine} needs at least one style image")
        m = as_tensor(mask, None, "mask") if mask is not None else None
        styles = StyleSet.create([as_tensor(s, None, f"style {i + 1}") for i, s in enumerate(styles_in)],
                                 style_weights, m).to(dev)
    elif styles_in:
        raise NSTError(f"the {engine} engine takes no style images (its style is in the model: model=NAME)")
    else:
        styles = StyleSet.none()
    return tensor_to_pil(run(build(engine, cfg), x, styles, spec.kind, on_progress))
