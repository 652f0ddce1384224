"""`from nst_toolkit import stylize`: the command line's engines and option names from Python, any image type in."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from nst_toolkit import api
from nst_toolkit.errors import NSTError


def test_the_package_import_stays_light_and_offers_stylize():
    code = "import sys, nst_toolkit; f = nst_toolkit.stylize; print('torch' in sys.modules, f.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "nst_toolkit.api"]  # torch comes only when a picture is made


def test_every_image_type_gives_the_same_picture(photo, painting):
    from nst_toolkit import stylize

    by_path = np.asarray(stylize(photo, painting, engine="adain", size=48))
    pil = Image.open(photo)
    as_array = np.asarray(pil.convert("RGB"))
    as_tensor = torch.from_numpy(as_array).permute(2, 0, 1).float() / 255
    for content in (pil, as_array, as_array.astype(np.float32) / 255, as_tensor, as_tensor[None]):
        got = stylize(content, Image.open(painting), engine="adain", size=48)
        assert isinstance(got, Image.Image) and got.size == (48, 36)
        assert np.abs(np.asarray(got).astype(int) - by_path).max() <= 2  # resampling of 8-bit vs float input
    before = as_array.copy()
    stylize(as_array, painting, engine="adain", size=48)
    assert np.array_equal(as_array, before)  # the caller's array is left as it was


def test_options_by_the_command_lines_names_and_progress(photo, painting):
    steps = []
    out = api.stylize(photo, painting, engine="gatys", size=48, iterations=3, style_weight=10, on_progress=steps.append)
    assert out.size == (48, 36)
    assert [s.iteration for s in steps] == [1, 2, 3] and all(s.total == 3 for s in steps)
    assert api.configure("improved", {"style-weight".replace("-", "_"): "7"}).style_weight == 7.0  # typed in as text
    assert api.configure("adain", {"model": "default"}).model == "vgg19"  # old names, as on the command line


def test_fast_needs_no_style_and_refuses_one(photo, painting):
    out = api.stylize(photo, engine="fast", model="test_net", size=48)
    assert out.size == (48, 36)
    with pytest.raises(NSTError, match="takes no style images"):
        api.stylize(photo, painting, engine="fast", model="test_net")


@pytest.mark.parametrize("bad, message", [
    ({"alpha": 2.0}, "alpha must lie in"),
    ({"no_such_option": 1}, "has no option no_such_option"),
    ({"size": 0}, "size must be positive"),
])
def test_bad_options_raise_the_command_lines_message(photo, painting, bad, message):
    with pytest.raises(NSTError, match=message):
        api.stylize(photo, painting, engine="adain", **bad)


def test_bad_images_raise_one_clear_error(photo, painting):
    with pytest.raises(NSTError, match="H×W×3"):
        api.stylize(np.zeros((4, 4, 4, 4), np.uint8), painting)
    with pytest.raises(NSTError, match="within \\[0, 1\\]"):
        api.stylize(torch.full((3, 40, 40), 2.0), painting)
    with pytest.raises(NSTError, match="expected a file path"):
        api.stylize(42, painting)
    with pytest.raises(NSTError, match="needs at least one style"):
        api.stylize(photo, engine="adain")
