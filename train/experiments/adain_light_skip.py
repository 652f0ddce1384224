"""Experiment (issue #12, not product code): the light AdaIN model with zero-initialised skip branches.

Multi-level AdaIN: the encoder's features after blocks 1-3 of the content, AdaIN'd to the style's at the
same level (alpha mix as at relu4_1), enter the decoder through zero-initialised 1x1 convolutions at the
matching resolution. Step 0 equals the light model; fine-tuned with the same losses as train/adain_light.sh.

    python train/experiments/adain_light_skip.py MINUTES LR OUT.safetensors      (from the repository root)
    python train/experiments/adain_light_skip_eval.py OUT.safetensors            (7 held-out photos, 3 held-out paintings)

Session 8 (28 min, lr 7e-4, 572 steps, one thread): alpha-0 SSIM 0.65 -> 0.92 and content distance far below
even the VGG-19 model's, but at alpha 1 the skips carry the photo through: the result is the photo with the
painting's colours (adain_light_skip.png: VGG-19, light, this, this at alpha 0). Not shipped; see models/README.md.
"""
import sys, time
from pathlib import Path
import torch
from torch import nn
from safetensors.torch import load_file, save_file
from nst_toolkit.nets import LightAdaIN
from nst_toolkit.losses import adain, mean_std
from nst_toolkit.engines.adain import AdaINTrainConfig
from nst_toolkit.engines.adain_engine import LightAdaINTask
from nst_toolkit.data import CropSampler

torch.set_num_threads(1)


class SkipLight(nn.Module):
    def __init__(self, widths=(16, 32, 64, 256)):
        super().__init__()
        self.base = LightAdaIN(widths)
        self.encoder = self.base.encoder
        c1, c2, c3, _ = widths
        self.skips = nn.ModuleList([nn.Conv2d(c, c, 1) for c in (c3, c2, c1)])
        for s in self.skips:
            nn.init.zeros_(s.weight); nn.init.zeros_(s.bias)
        enc = list(self.encoder.net)
        # encoder cut points: after the relu of each block's second conv (before max pool)
        self.e_blocks = [nn.Sequential(*enc[0:4]), nn.Sequential(*enc[4:9]), nn.Sequential(*enc[9:14]), nn.Sequential(*enc[14:])]
        dec = list(self.base.decoder.net)
        # decoder cut points: after each upsample (1/4: c3 ch, 1/2: c2 ch, full: c1 ch)
        self.d_blocks = [nn.Sequential(*dec[0:3]), nn.Sequential(*dec[3:8]), nn.Sequential(*dec[8:13]), nn.Sequential(*dec[13:])]

    def encode(self, x):
        feats, h = [], x - 0.5
        for b in self.e_blocks:
            h = b(h); feats.append(h)
        return feats  # e1 (full), e2 (1/2), e3 (1/4), e4 (1/8)

    def decode(self, feats):
        h = self.d_blocks[0](feats[3])
        for i, (skip, f) in enumerate(zip(self.skips, (feats[2], feats[1], feats[0]))):
            h = h + skip(f)
            h = self.d_blocks[i + 1](h)
        return h + 0.5

    def transfer(self, fc, fs, alpha=1.0):
        return [alpha * adain(c, *mean_std(s)) + (1 - alpha) * c for c, s in zip(fc, fs)]

    def forward(self, content, style):
        fc, fs = self.encode(content), self.encode(style)
        return self.decode(self.transfer(fc, fs)), self.decode(fc), fc[3]

    def stylize(self, content, style, alpha=1.0):
        return self.decode(self.transfer(self.encode(content), self.encode(style), alpha)).clamp(0, 1)


def main():
    minutes = float(sys.argv[1]); lr = float(sys.argv[2]); out = Path(sys.argv[3])
    cfg = AdaINTrainConfig(arch="light", teacher="default", size=128, batch_size=4, lr=lr, perceptual_weight=0.1,
                           reconstruct_weight=3, style_weight=10.0)
    task = LightAdaINTask(cfg, CropSampler(".data/content", 128), CropSampler(".data/adain_style", 128), torch.device("cpu"))
    net = SkipLight()
    st = load_file("train/state/adain_light.safetensors")
    net.base.load_state_dict({k.removeprefix("model."): v for k, v in st.items() if k.startswith("model.")})
    save = lambda: save_file({k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith('encoder.')}, str(out))
    train_for(net, task, minutes, lr, save, first=100000, save_every=200)


def train_for(net, task, minutes, lr, save, first, save_every):
    """Adam on task.loss_fn for `minutes`, gradients clipped to norm 1, crops from step first + 1 on."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60:
        step += 1
        terms = task.loss_fn(net, first + step)
        loss = sum(terms.values())
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if step % 25 == 0:
            print(step, f"{time.time() - t0:.0f}s", {k: round(float(v), 4) for k, v in terms.items()}, flush=True)
        if step % save_every == 0:
            save()
    save()
    print("done", step, flush=True)


if __name__ == "__main__":
    main()
