"""Where a light AdaIN model's style falls short (issue #12, session 12): `nst eval`'s style distance split by
VGG-19 layer (relative Gram distance per layer), medians over the 7 held-out photos at 512 px, per held-out painting.

    python train/experiments/adain_layer_gap.py MODEL [MODEL ...]     (names or files; default = VGG-19)

One thread; about a minute per model.
"""
import statistics, sys
from pathlib import Path
import torch
import torch.nn.functional as F
from nst_toolkit import losses
from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain_engine import AdaINEngine
from nst_toolkit.evaluate import Evaluator, STYLE_LAYERS
from nst_toolkit.images import load_image
torch.set_num_threads(1)
photos = sorted(Path(".data/heldout").glob("*.jpg"))[:7]
styles = sorted(Path(".data/style_heldout").glob("*.jpg"))
ev = Evaluator()
contents = [(lambda c: c[..., : c.shape[-2] // 8 * 8, : c.shape[-1] // 8 * 8])(load_image(p, 512)) for p in photos]
for m in sys.argv[1:]:
    e = AdaINEngine(AdaINConfig(model=m))
    for s in styles:
        st = load_image(s, 512)
        with torch.no_grad():
            fs = ev.vgg(st, STYLE_LAYERS)
            rows = []
            for c in contents:
                y = e.stylize(c, st)
                fx = ev.vgg(y, STYLE_LAYERS)
                d = []
                for k in STYLE_LAYERS:
                    gs = losses.gram_matrix(fs[k])
                    d.append(float(F.mse_loss(losses.gram_matrix(fx[k]), gs) / gs.square().mean()))
                rows.append(d)
        med = [statistics.median(r[i] for r in rows) for i in range(len(STYLE_LAYERS))]
        print(m[-24:] if m != "default" else "VGG-19", s.stem[:8], " ".join(f"{k}={v:.3f}" for k, v in zip(STYLE_LAYERS, med)), flush=True)
