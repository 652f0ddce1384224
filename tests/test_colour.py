"""Shared colour control: luminance-only transfer and histogram matching."""

import torch

from nst_toolkit import colour


def test_ycbcr_round_trip():
    x = torch.rand(2, 3, 5, 6)
    assert torch.allclose(colour.ycbcr_to_rgb(colour.rgb_to_ycbcr(x)), x, atol=1e-5)


def test_luminance_transfer_keeps_content_chroma():
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 16, 16, generator=g) * 0.4 + 0.3
    # a stylised luminance near the content's, so the recombined colours stay inside the RGB cube
    stylized_grey = (colour.luminance(content) + 0.05 * torch.randn(1, 1, 16, 16, generator=g)).clamp(0, 1)
    out = colour.combine_luminance(stylized_grey, content)
    yc_out, yc_content = colour.rgb_to_ycbcr(out), colour.rgb_to_ycbcr(content)
    assert torch.allclose(yc_out[:, 1:], yc_content[:, 1:], atol=2e-3)  # Cb, Cr from the content
    assert torch.allclose(yc_out[:, :1], colour.rgb_to_ycbcr(stylized_grey)[:, :1], atol=2e-3)  # Y from the result


def test_histogram_matching_matches_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 32, 32, generator=g) * 0.3 + 0.1
    mix = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    reference = (torch.einsum("ij,njhw->nihw", mix, torch.rand(1, 3, 32, 32, generator=g)) * 0.6 + 0.2)
    out = colour.match_histogram(source, reference)

    def stats(x):
        flat = x[0].reshape(3, -1).double()
        return flat.mean(1), torch.cov(flat, correction=0)

    (mo, co), (mr, cr) = stats(out), stats(reference)
    assert torch.allclose(mo, mr, atol=1e-3)
    assert torch.allclose(co, cr, atol=1e-3)


def test_preserve_modes_hand_the_engine_what_it_should_see():
    from nst_toolkit.styles import StyleSet

    c, s = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    seen = {}

    def run(content, styles):
        seen["content"], seen["style"] = content, styles.images[0]
        return content

    colour.preserve("luminance", c, StyleSet.create([s]), run)
    lc, ls = seen["content"], seen["style"]
    assert torch.allclose(lc[:, 0], lc[:, 1]) and torch.allclose(ls[:, 0], ls[:, 2])  # grey
    colour.preserve("none", c, StyleSet.create([s]), run)
    assert seen["content"] is c and seen["style"] is s
    colour.preserve("histogram", c, StyleSet.create([s]), run)
    assert seen["content"] is c and not torch.equal(seen["style"], s)  # the style took the content's colours
