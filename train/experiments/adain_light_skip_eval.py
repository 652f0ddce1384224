"""Judge the skip experiment (adain_light_skip.py) against the light model's last sitting: alpha-0 SSIM, nst eval distances.
Session 8's tool: it reads light states from before the skip branches (sitting 9 and earlier, e.g. from git
history); for later models use adain_light_eval.py.

    python train/experiments/adain_light_skip_eval.py [MODEL.safetensors ...]   (light states or skip experiments)
"""
import sys, statistics, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from adain_light_skip import SkipLight
from safetensors.torch import load_file
from nst_toolkit.evaluate import Evaluator, ssim
from nst_toolkit import colour
from nst_toolkit.images import load_image
torch.set_num_threads(1)
photos = sorted(Path('.data/heldout').glob('*.jpg'))
styles = sorted(Path('.data/style_heldout').glob('*.jpg'))
ev = Evaluator()
nets = {}
for name, path in [('light (train/state)', 'train/state/adain_light.safetensors')] + [(p, p) for p in sys.argv[1:]]:
    n = SkipLight(); st = load_file(path)
    if any(k.startswith('model.') for k in st):
        n.base.load_state_dict({k.removeprefix('model.'): v for k, v in st.items() if k.startswith('model.')})
    else:
        n.load_state_dict(st, strict=False)
    nets[name] = n.eval()
with torch.inference_mode():
    from nst_toolkit.engines.adain import AdaINConfig
    from nst_toolkit.engines.adain_engine import AdaINEngine

    vgg = AdaINEngine(AdaINConfig())  # the VGG-19 model, the bar (alpha-0 SSIM: scripts/bench_adain.py)
    for s in styles:
        st = load_image(s, 512); r = []
        for p in photos:
            c = load_image(p, 512); c = c[..., : c.shape[-2] // 8 * 8, : c.shape[-1] // 8 * 8]
            r.append(ev(vgg.stylize(c, st), c, st))
        print('VGG-19', s.stem[:12], 'style %.3f content %.3f' % (statistics.median(x['style_distance'] for x in r),
              statistics.median(x['content_distance'] for x in r)), flush=True)
    for name, n in nets.items():
        ss = []
        for p in photos:
            c = load_image(p, 512); c = c[..., : c.shape[-2] // 8 * 8, : c.shape[-1] // 8 * 8]; x = n.stylize(c, c, alpha=0.0)
            ss.append(ssim(colour.rgb_to_ycbcr(x)[:, :1], colour.rgb_to_ycbcr(c)[:, :1]))
        print(name, 'alpha-0 SSIM %.3f' % statistics.median(ss), flush=True)
        for s in styles:
            st = load_image(s, 512); r = []
            for p in photos:
                c = load_image(p, 512); c = c[..., : c.shape[-2] // 8 * 8, : c.shape[-1] // 8 * 8]; r.append(ev(n.stylize(c, st), c, st))
            print(name, s.stem[:12], 'style %.3f content %.3f' % (statistics.median(x['style_distance'] for x in r),
                  statistics.median(x['content_distance'] for x in r)), flush=True)
