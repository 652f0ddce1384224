"""Johnson et al. 2016's image transformation network and the narrowing of a trained one (distillation's start)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import ConvLayer, ResidualBlock, UpsampleConv


class TransformerNet(nn.Module):
    """Johnson et al. 2016 image transformation network with instance norm (Ulyanov et al. 2016).

    ``width`` is the channel count of the first layer (32 in the paper); the others scale with it.
    ``n_res`` residual blocks (5 in the paper). Input and output are [0, 1] RGB; sides must be
    multiples of 4 (see :func:`nst_toolkit.engines.fast.stylize_padded` for any size).
    """

    MULTIPLE = 4

    def __init__(self, width: int = 32, n_res: int = 5):
        super().__init__()
        w1, w2, w3 = width, width * 2, width * 4
        self.width, self.n_res = width, n_res
        self.net = nn.Sequential(
            ConvLayer(3, w1, 9), nn.InstanceNorm2d(w1, affine=True), nn.ReLU(),
            ConvLayer(w1, w2, 3, stride=2), nn.InstanceNorm2d(w2, affine=True), nn.ReLU(),
            ConvLayer(w2, w3, 3, stride=2), nn.InstanceNorm2d(w3, affine=True), nn.ReLU(),
            *[ResidualBlock(w3) for _ in range(n_res)],
            UpsampleConv(w3, w2, 3), nn.InstanceNorm2d(w2, affine=True), nn.ReLU(),
            UpsampleConv(w2, w1, 3), nn.InstanceNorm2d(w1, affine=True), nn.ReLU(),
            ConvLayer(w1, 3, 9),
        )

    def architecture(self) -> dict:
        return {"arch": "TransformerNet", "width": self.width, "n_res": self.n_res}

    def forward(self, x: Tensor) -> Tensor:
        # Output is unbounded during training (the loss sees it as is); callers clamp to [0, 1].
        return self.net(x)


def _stages(net: TransformerNet) -> tuple[list[tuple[nn.Conv2d, nn.InstanceNorm2d | None]], list[ResidualBlock], int]:
    """The network read by structure, not by index: (conv, norm) stages in order, the residual
    blocks, and how many stages come before the blocks (the last of those writes the residual stream)."""
    stages: list[tuple[nn.Conv2d, nn.InstanceNorm2d | None]] = []
    blocks: list[ResidualBlock] = []
    before = None
    for m in net.net:
        if isinstance(m, ResidualBlock):
            blocks.append(m)
            before = len(stages) if before is None else before
        elif isinstance(m, (ConvLayer, UpsampleConv)):
            stages.append((_conv(m), None))
        elif isinstance(m, nn.InstanceNorm2d):
            stages[-1] = (stages[-1][0], m)
    return stages, blocks, len(stages) if before is None else before


def _conv(m: nn.Module) -> nn.Conv2d:
    if isinstance(m, UpsampleConv):
        m = m.conv
    return next(c for c in m.modules() if isinstance(c, nn.Conv2d))


def _block_parts(block: ResidualBlock) -> tuple[nn.Conv2d, nn.InstanceNorm2d, nn.Conv2d, nn.InstanceNorm2d]:
    convs = [_conv(m) for m in block.body if isinstance(m, ConvLayer)]
    norms = [m for m in block.body if isinstance(m, nn.InstanceNorm2d)]
    return convs[0], norms[0], convs[1], norms[1]


def slim_transformer(net: TransformerNet, width: int) -> TransformerNet:
    """A narrower TransformerNet made from ``net`` by keeping its most important channels.

    The starting point for distilling a trained network into a faster one (Li et al. 2017, "Pruning
    Filters for Efficient ConvNets", with an instance-norm criterion): after instance norm a
    channel's output is ``gamma·z + beta`` with z of unit variance, so a channel's importance is
    ``(|gamma| + |beta|)`` times the norm of the weights that read it in the next layer. The
    residual stream's channels are chosen once for all blocks (they are added together); each
    block's inner channels are chosen separately. The result needs fine-tuning (distillation).
    """
    if not 0 < width <= net.width:
        raise ValueError(f"slim width must be in 1..{net.width}, not {width}")
    small = TransformerNet(width, net.n_res)
    big_stages, big_blocks, n_pre = _stages(net)
    small_stages, small_blocks, _ = _stages(small)

    def score(norm: nn.InstanceNorm2d, *readers: nn.Conv2d) -> Tensor:
        use = sum(r.weight.detach().square().sum(dim=(0, 2, 3)) for r in readers).sqrt()
        return (norm.weight.detach().abs() + norm.bias.detach().abs()) * use

    def keep(s: Tensor, k: int) -> Tensor:
        return s.topk(k).indices.sort().values

    # Channels kept at each stage's output: a stage is read by the next stage's conv, except the
    # stream (the last stage before the blocks, and every block's output), read by every block and
    # by the first stage after them. The last stage (RGB out) keeps all three channels.
    stream_stage = n_pre - 1
    block_parts = [_block_parts(b) for b in big_blocks]
    kept: list[Tensor] = []
    for i, (conv, norm) in enumerate(big_stages):
        k = small_stages[i][0].out_channels
        if norm is None:
            kept.append(torch.arange(conv.out_channels))
        elif i == stream_stage:
            after = big_stages[n_pre][0]
            stream = score(norm, *[p[0] for p in block_parts], after)
            for p in block_parts:  # a block's output norm writes into the stream too
                stream = stream + score(p[3], after)
            kept.append(keep(stream, k))
        else:
            kept.append(keep(score(norm, big_stages[i + 1][0]), k))
    inner = [keep(score(p[1], p[2]), _block_parts(sb)[1].num_features) for p, sb in zip(block_parts, small_blocks)]

    def copy_conv(dst: nn.Conv2d, src: nn.Conv2d, out_idx: Tensor, in_idx: Tensor) -> None:
        dst.weight.copy_(src.weight[out_idx][:, in_idx])
        dst.bias.copy_(src.bias[out_idx])

    def copy_norm(dst: nn.InstanceNorm2d, src: nn.InstanceNorm2d, idx: Tensor) -> None:
        dst.weight.copy_(src.weight[idx])
        dst.bias.copy_(src.bias[idx])

    with torch.no_grad():
        reads = torch.arange(3)  # the RGB input
        for i, ((sc, sn), (bc, bn)) in enumerate(zip(small_stages, big_stages)):
            copy_conv(sc, bc, kept[i], reads)
            if bn is not None:
                copy_norm(sn, bn, kept[i])
            reads = kept[i]
            if i == stream_stage:
                for sb, parts, keep_inner in zip(small_blocks, block_parts, inner):
                    s0, sn0, s1, sn1 = _block_parts(sb)
                    copy_conv(s0, parts[0], keep_inner, reads)
                    copy_norm(sn0, parts[1], keep_inner)
                    copy_conv(s1, parts[2], reads, keep_inner)
                    copy_norm(sn1, parts[3], reads)
    return small
