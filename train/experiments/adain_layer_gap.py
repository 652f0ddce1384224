"""Where a light AdaIN model's style falls short (issue #12, session 12): `nst eval`'s style distance split by
VGG-19 layer (relative Gram distance per layer), medians over the 7 held-out photos at 512 px, per held-out painting.

    python train/experiments/adain_layer_gap.py MODEL [MODEL ...]     (names, model files or training checkpoints; default = VGG-19)

One thread; about a minute per model.
"""
import statistics, sys, tempfile
from pathlib import Path
import torch
from heldout import label, load_content, load_painting, model_file, paintings, photos
from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain_engine import AdaINEngine
from nst_toolkit.evaluate import Evaluator, STYLE_LAYERS
torch.set_num_threads(1)
ev = Evaluator()
tmp = Path(tempfile.mkdtemp())
contents = [load_content(p) for p in photos()]
for m in sys.argv[1:]:
    e = AdaINEngine(AdaINConfig(model=model_file(m, tmp)))
    for s in paintings():
        st = load_painting(s)
        with torch.no_grad():
            rows = [ev.layer_style_distances(e.stylize(c, st), st) for c in contents]
        med = {k: statistics.median(r[k] for r in rows) for k in STYLE_LAYERS}
        print(label(m), s.stem[:8], " ".join(f"{k}={v:.3f}" for k, v in med.items()), flush=True)
