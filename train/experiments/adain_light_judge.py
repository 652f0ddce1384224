"""The independent judge (../shared/tools/judge.py: VGG-16 Gram style log10, LPIPS to the content) on AdaIN
models: the 7 held-out photos at 512 px, each of the three held-out paintings; medians per painting.

    python train/experiments/adain_light_judge.py OUT_DIR MODEL [MODEL ...]   (names or files; default = VGG-19)

For decisions and reports only (issue #12). Writes the pictures under OUT_DIR/<model>/.
"""
import json, statistics, sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[2].parent / "shared" / "tools"))
from judge import Judge  # noqa: E402
from heldout import label, load_content, load_painting, model_file, paintings, photos  # noqa: E402
from nst_toolkit.engines.adain import AdaINConfig  # noqa: E402
from nst_toolkit.engines.adain_engine import AdaINEngine  # noqa: E402
from nst_toolkit.images import save_image  # noqa: E402

torch.set_num_threads(1)
out = Path(sys.argv[1])
judge = Judge()
for model in sys.argv[2:]:
    eng = AdaINEngine(AdaINConfig(model=model_file(model, out)))
    d = out / Path(label(model).replace("/", "_")).stem
    d.mkdir(parents=True, exist_ok=True)
    row = [model]
    for s in paintings():
        st = load_painting(s)
        scores = []
        for p in photos():
            f = d / f"{p.stem}_{s.stem}.png"
            with torch.inference_mode():
                save_image(eng.stylize(load_content(p), st), f)
            scores.append(judge.score(f, p, s))
        row.append("%s %.3f / %.3f" % (s.stem[:8], statistics.median(x["style_log10"] for x in scores),
                                       statistics.median(x["lpips_content"] for x in scores)))
    print(" | ".join(row), flush=True)
    (d / "judge.json").write_text(json.dumps(row))
