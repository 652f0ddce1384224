"""Judge light AdaIN models (model files or training checkpoints) on issue #12's quality bar:
`nst eval` medians over held-out photos for each held-out painting at 512 px, and alpha-0 SSIM.

    python train/experiments/adain_light_eval.py [--photos N] [--vgg] [--transfer efdm] [--digits 4] MODEL [MODEL ...]

--vgg also scores the VGG-19 model (the bar; session 8's numbers on all 7 photos: 0.148 / 0.811
Summertime, 0.257 / 0.931 Great Wave, 0.239 / 1.090 Café Terrace). One thread.
"""
import argparse, statistics, tempfile
from pathlib import Path
import torch
from heldout import label, load_content, load_painting, model_file, paintings, photos
from nst_toolkit import colour
from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain_engine import AdaINEngine
from nst_toolkit.evaluate import Evaluator, ssim

torch.set_num_threads(1)
ap = argparse.ArgumentParser()
ap.add_argument("models", nargs="*")
ap.add_argument("--photos", type=int, default=7)
ap.add_argument("--vgg", action="store_true")
ap.add_argument("--transfer", default="adain", help="adain | efdm (the feature transfer of the stylisations)")
ap.add_argument("--digits", type=int, default=3, help="decimals printed (4 to judge a number near its bar)")
args = ap.parse_args()
ev = Evaluator()
tmp = Path(tempfile.mkdtemp())
contents = {p: load_content(p) for p in photos(args.photos)}
styles = {s: load_painting(s) for s in paintings()}
todo = (["default"] if args.vgg else []) + args.models
for m in todo:
    path = model_file(m, tmp)
    line = [label(m)]
    with torch.inference_mode():
        if m != "default":
            e0 = AdaINEngine(AdaINConfig(model=path, alpha=0.0))
            ss = [ssim(colour.rgb_to_ycbcr(e0.stylize(c, c))[:, :1], colour.rgb_to_ycbcr(c)[:, :1]) for c in contents.values()]
            line.append("alpha-0 SSIM %.*f" % (args.digits, statistics.median(ss)))
        e = AdaINEngine(AdaINConfig(model=path, transfer=args.transfer))
        for s, st in styles.items():
            r = [ev(e.stylize(c, st), c, st) for c in contents.values()]
            line.append("%s %.*f / %.*f" % (s.stem[:8], args.digits, statistics.median(x["style_distance"] for x in r),
                                            args.digits, statistics.median(x["content_distance"] for x in r)))
    print(" | ".join(line), flush=True)
