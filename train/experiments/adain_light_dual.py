"""Experiment (issue #12, not product code): the light AdaIN model with two sets of skip branches.

* reconstruction skips (the product's `--skips`): the content's encoder levels, weighted by 1 - alpha;
* stylisation skips: each level AdaIN'd to the style's at that level (alpha mix as at relu4_1), through
  their own zero-initialised 1x1 convolutions, weighted by alpha, and trained by the stylisation losses only
  (session 8's shared skips, also trained to reconstruct, carried the photo into alpha 1).

    python train/experiments/adain_light_dual.py train MINUTES LR PERCEPTUAL STATE.safetensors OUT.safetensors
    python train/experiments/adain_light_dual.py eval OUT.safetensors [N_PHOTOS]

STATE is a light training checkpoint with skips (train/experiments/add_skips.py), or an earlier OUT of this
script named *.dual.safetensors (continued with a fresh Adam). One thread, 128-px crops.
"""
import statistics, sys
from pathlib import Path
import torch
from torch import nn
from safetensors.torch import load_file, save_file
from nst_toolkit.checkpoints import load_checkpoint
from nst_toolkit.nets import LightAdaIN
from nst_toolkit.losses import adain, mean_std

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adain_light_skip import train_for  # noqa: E402  (session 8's experiment: the same timed loop)

torch.set_num_threads(1)


class DualLight(nn.Module):
    def __init__(self, widths=(16, 32, 64, 256)):
        super().__init__()
        self.base = LightAdaIN(widths, skips=True)
        self.encoder = self.base.encoder
        c1, c2, c3, _ = widths
        self.sty = nn.ModuleList([nn.Conv2d(c, c, 1) for c in (c3, c2, c1)])
        for conv in self.sty:
            nn.init.zeros_(conv.weight); nn.init.zeros_(conv.bias)

    def decode(self, t, levels_t, levels_c, alpha):
        dec = self.base.decoder
        pairs = iter(zip(dec.skips, self.sty, (2, 1, 0)))
        h = t
        for m in dec.net:
            h = m(h)
            if isinstance(m, nn.Upsample):
                rec, sty, i = next(pairs)
                if alpha < 1:
                    h = h + (1 - alpha) * rec(levels_c[i])
                if alpha > 0:
                    h = h + alpha * sty(levels_t[i])
        return h + 0.5

    def stylize(self, content, style, alpha=1.0):
        lc, ls = self.encoder.levels(content), self.encoder.levels(style)
        lt = [alpha * adain(c, *mean_std(s)) + (1 - alpha) * c for c, s in zip(lc, ls)]
        return self.decode(lt[3], lt, lc, alpha).clamp(0, 1)

    def forward(self, content, style):
        lc, ls = self.encoder.levels(content), self.encoder.levels(style)
        lt = [adain(c, *mean_std(s)) for c, s in zip(lc, ls)]
        return self.decode(lt[3], lt, lc, 1.0), self.base.decoder(lc[3], lc, 1.0), lc[3]


def train(minutes, lr, perceptual, state, out):
    from nst_toolkit.data import CropSampler
    from nst_toolkit.engines.adain import AdaINTrainConfig
    from nst_toolkit.engines.adain_engine import LightAdaINTask

    cfg = AdaINTrainConfig(arch="light", teacher="default", size=128, batch_size=4, lr=lr, perceptual_weight=perceptual,
                           reconstruct_weight=3, style_weight=10.0, skips=True)
    task = LightAdaINTask(cfg, CropSampler(".data/content", 128), CropSampler(".data/adain_style", 128), torch.device("cpu"))
    net = DualLight()
    if state.endswith(".dual.safetensors"):  # this script's own output: go on from it (fresh Adam)
        net.load_state_dict(load_file(state), strict=False)
    else:
        tensors, _ = load_checkpoint(state, "adain")
        net.base.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
    save = lambda: save_file({k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith("encoder.")}, out)
    train_for(net, task, minutes, lr, save, first=200000, save_every=100)


def evaluate(path, n_photos=7):
    from nst_toolkit import colour
    from nst_toolkit.evaluate import Evaluator, ssim
    from nst_toolkit.images import load_image

    net = DualLight(); net.load_state_dict(load_file(path), strict=False); net.eval()
    ev = Evaluator()
    photos = sorted(Path(".data/heldout").glob("*.jpg"))[:n_photos]
    crop = lambda c: c[..., : c.shape[-2] // 8 * 8, : c.shape[-1] // 8 * 8]
    contents = [crop(load_image(p, 512)) for p in photos]
    line = [path]
    with torch.inference_mode():
        ss = [ssim(colour.rgb_to_ycbcr(net.stylize(c, c, 0.0))[:, :1], colour.rgb_to_ycbcr(c)[:, :1]) for c in contents]
        line.append("alpha-0 SSIM %.3f" % statistics.median(ss))
        for s in sorted(Path(".data/style_heldout").glob("*.jpg")):
            st = load_image(s, 512)
            r = [ev(net.stylize(c, st), c, st) for c in contents]
            line.append("%s %.3f / %.3f" % (s.stem[:8], statistics.median(x["style_distance"] for x in r),
                                            statistics.median(x["content_distance"] for x in r)))
    print(" | ".join(line), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        evaluate(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 7)
