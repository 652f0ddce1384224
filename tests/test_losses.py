"""Each loss against its formula, computed by hand."""

import torch

from nst_toolkit import losses


def test_content_loss_is_mse_over_chw():
    f, p = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    expected = ((f - p) ** 2).sum() / (2 * 3 * 4 * 5)
    assert torch.allclose(losses.content_loss(f, p), expected)


def test_gram_matrix_formula_and_shift():
    f = torch.randn(1, 3, 2, 2)
    g = losses.gram_matrix(f)
    flat = f.reshape(3, 4)
    for i in range(3):
        for j in range(3):
            assert torch.isclose(g[0, i, j], (flat[i] * flat[j]).sum() / 4)
    shifted = losses.gram_matrix(f, shift=-1.0)
    assert torch.allclose(shifted, losses.gram_matrix(f - 1.0))
    assert not torch.allclose(shifted, g)


def test_gram_matrix_hand_values():
    # F = [[1, 2], [0, 1]] over two positions (C=2, H=1, W=2): G = F Fᵀ / 2 = [[2.5, 1], [1, 0.5]]
    f = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])
    assert torch.allclose(losses.gram_matrix(f), torch.tensor([[[2.5, 1.0], [1.0, 0.5]]]))
    # with s = −1: F + s = [[0, 1], [−1, 0]] → G = [[0.5, 0], [0, 0.5]]
    assert torch.allclose(losses.gram_matrix(f, shift=-1.0), torch.tensor([[[0.5, 0.0], [0.0, 0.5]]]))


def test_gram_loss_and_weighted_style_loss():
    a, b = torch.randn(1, 4, 3, 3), torch.randn(1, 8, 2, 2)
    ta, tb = torch.randn(1, 4, 4), torch.randn(1, 8, 8)
    ea = ((losses.gram_matrix(a) - ta) ** 2).mean()
    eb = ((losses.gram_matrix(b) - tb) ** 2).mean()
    assert torch.allclose(losses.gram_loss(a, ta), ea)
    total = losses.style_loss({"x": a, "y": b}, {"x": ta, "y": tb}, {"x": 0.25, "y": 2.0})
    assert torch.allclose(total, 0.25 * ea + 2.0 * eb)


def test_gram_is_size_normalised():
    """A texture tiled to 4× the area has the same Gram matrix: style loss does not grow with size."""
    f = torch.rand(1, 5, 6, 6)
    big = f.repeat(1, 1, 2, 2)
    assert torch.allclose(losses.gram_matrix(f), losses.gram_matrix(big), atol=1e-6)


def test_relative_gram_loss_is_per_image_and_scale_free():
    f, s = torch.rand(2, 4, 5, 5), torch.rand(2, 4, 3, 3)
    per = [((losses.gram_matrix(f[i:i + 1]) - losses.gram_matrix(s[i:i + 1])) ** 2).mean()
           / (losses.gram_matrix(s[i:i + 1]) ** 2).mean() for i in range(2)]
    assert torch.allclose(losses.relative_gram_loss(f, s), (per[0] + per[1]) / 2)
    assert float(losses.relative_gram_loss(s, s)) == 0.0
    assert torch.allclose(losses.relative_gram_loss(torch.zeros_like(f), s), torch.tensor(1.0))  # no texture: 1
    # relative: scaling both the output's and the style's features does not change it
    assert torch.allclose(losses.relative_gram_loss(3 * f, 3 * s), losses.relative_gram_loss(f, s), rtol=1e-5)
    # one style for a batch: the same as repeating it
    assert torch.allclose(losses.relative_gram_loss(f, s[:1]), losses.relative_gram_loss(f, s[:1].expand(2, -1, -1, -1)))


def test_mean_std_and_its_loss():
    f = torch.randn(2, 3, 5, 5) * 3 + 1
    m, s = losses.mean_std(f, eps=0.0)
    assert torch.allclose(m.flatten(), f.mean(dim=(2, 3)).flatten(), atol=1e-6)
    assert torch.allclose(s.flatten(), f.std(dim=(2, 3), unbiased=False).flatten(), atol=1e-5)
    t = torch.randn(2, 3, 4, 4)
    tm, ts = losses.mean_std(t)
    m, s = losses.mean_std(f)
    expected = ((m - tm) ** 2).mean() + ((s - ts) ** 2).mean()
    assert torch.allclose(losses.mean_std_loss(f, t), expected)


def test_tv_loss_hand_value():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 3.0]]]])
    # vertical diffs: 1, 2; horizontal diffs: 1, 2 → 1 + 4 + 1 + 4 = 10, over N·C·256²
    assert torch.isclose(losses.tv_loss(x), torch.tensor(10.0 / 65536))


def test_tv_loss_resolution_invariant_for_smooth_images():
    """The Dirichlet-energy TV keeps its value when a smooth image is resampled to twice the size."""
    small = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64).contiguous()
    big = torch.nn.functional.interpolate(small, scale_factor=2, mode="bilinear", align_corners=True)
    ratio = losses.tv_loss(big) / losses.tv_loss(small)
    assert 0.9 < ratio < 1.1
    # A per-pixel mean would have fallen about 4×.
    mean_small = (small[..., 1:] - small[..., :-1]).square().mean()
    mean_big = (big[..., 1:] - big[..., :-1]).square().mean()
    assert mean_big / mean_small < 0.3


def test_adain_gives_style_statistics():
    c = torch.randn(1, 6, 8, 8) * 2 + 3
    s = torch.randn(1, 6, 5, 7) * 0.5 - 1
    out = losses.adain(c, *losses.mean_std(s))
    om, os_ = losses.mean_std(out)
    sm, ss = losses.mean_std(s)
    assert torch.allclose(om, sm, atol=1e-4)
    assert torch.allclose(os_, ss, atol=1e-3)


def test_gram_loss_gradient_matches_autograd_for_both_layouts():
    for channels_last in (False, True):
        f = torch.randn(2, 5, 6, 7, dtype=torch.float64)
        if channels_last:
            f = f.contiguous(memory_format=torch.channels_last)
        a = losses.gram_matrix(torch.randn(1, 5, 4, 4, dtype=torch.float64))
        for shift in (0.0, -1.0):
            x = f.clone().requires_grad_(True)
            losses.gram_loss(x, a, shift).backward()
            y = f.clone().requires_grad_(True)
            torch.nn.functional.mse_loss(losses.gram_matrix(y, shift), a.expand(2, -1, -1)).backward()
            assert torch.allclose(x.grad, y.grad, atol=1e-10), (channels_last, shift)
            assert torch.allclose(losses.gram_matrix(f, shift), losses.gram_matrix(f.contiguous(), shift))


def test_unit_feature_distance_ignores_each_positions_length_and_counts_direction():
    f = torch.rand(2, 5, 3, 4) + 0.1
    scale = torch.rand(2, 1, 3, 4) * 10 + 0.1  # any positive length per position
    assert torch.allclose(losses.unit_feature_distance(f * scale, f), torch.zeros(2), atol=1e-6)
    assert torch.allclose(losses.unit_feature_distance(-f, f), torch.full((2,), 4.0), atol=1e-5)
    a, b = torch.zeros(1, 2, 1, 2), torch.zeros(1, 2, 1, 2)
    a[0, 0], b[0, 1] = 1.0, 1.0  # orthogonal unit vectors at both positions: |a - b|² = 2
    assert torch.allclose(losses.unit_feature_distance(a, b), torch.tensor([2.0]))
