"""Every shipped config builds, runs forward and backward, holds the attention it declares, and
its parameter count is the one the metafiles (and so the README) state."""

import functools
import glob
import math
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
import yaml
from mmengine.registry import MODELS

from ela_mm.analysis.synthetic import num_classes, synthetic_batch
from ela_mm.comparison.catalogue import parse_config_name
from ela_mm.utils.config import build_model, count_params, load_config, tensor_outputs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if f'{os.sep}_base_{os.sep}' not in p
)
RESNET_BLOCKS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
# MobileNetV2 (expand ratio, output channels, blocks) per stage, input 32 channels
MOBILENET_V2 = (
    (1, 16, 1),
    (6, 24, 2),
    (6, 32, 3),
    (6, 64, 4),
    (6, 96, 3),
    (6, 160, 3),
    (6, 320, 1),
)


def stage_widths(backbone: dict):
    """Per stage, the channel count at each insertion point, from the architecture tables
    (independently of the code that builds the models)."""
    t = backbone['type'] if backbone['type'] != 'WithAttention' else backbone['host']
    if t in ('PluginCSPDarknet', 'CSPNeXt'):  # widen_factor x (64,) 128, 256, 512, 1024
        widen = backbone.get('widen_factor', 1.0)
        return [[int(c * widen)] for c in (128, 256, 512, 1024)]
    if t in ('PluginResNetV1c', 'AttnResNet', 'ResNet'):
        depth = backbone['depth']
        base = backbone.get('base_channels', 64)
        exp = 1 if depth < 50 else 4
        return [[base * 2**i * exp] * n for i, n in enumerate(RESNET_BLOCKS[depth])]
    if t in ('AttnMobileNetV2', 'MobileNetV2'):
        widths, cin = [], 32
        for ratio, cout, n in MOBILENET_V2:
            widths.append([(cin if i == 0 else cout) * ratio for i in range(n)])
            cin = cout
        return widths
    raise AssertionError(f'no architecture table for {t}')


# WithAttention patterns the configs use -> the stages they select (one flag per stage)
PATTERN_STAGES = {'stage[2-4].-1': (False, True, True, True), 'layer*.*.conv.-2': (True,) * 7}


def declared_attention(backbone: dict):
    """[(attention config, [width of each module])] as the config declares them."""
    t = backbone['type']
    if t in ('PluginCSPDarknet', 'PluginResNetV1c', 'ResNet'):
        widths = stage_widths(backbone)
        return [
            (p['cfg'], [w for ws, on in zip(widths, p['stages']) if on for w in ws])
            for p in backbone.get('plugins') or []
        ]
    if t == 'WithAttention':
        widths = stage_widths(backbone)
        return [
            (a['cfg'], [w for ws, on in zip(widths, PATTERN_STAGES[a['after']]) if on for w in ws])
            for a in backbone['attention']
        ]
    if t in ('AttnResNet', 'AttnMobileNetV2'):
        if backbone.get('attention') is None:
            return []
        widths = stage_widths(backbone)
        flags = backbone.get('attention_stages') or (True,) * len(widths)
        return [(backbone['attention'], [w for ws, on in zip(widths, flags) if on for w in ws])]
    assert backbone.get('plugins') is None, f'unknown backbone {t} with plugins'
    return []


def attention_params(cfg: dict, C: int) -> int:
    """Parameters of one module on C channels, by each paper's design (README's table)."""
    t = cfg['type']
    if t == 'ELA':
        k, div = {'T': (5, None), 'B': (7, None), 'S': (5, 8), 'L': (7, 8)}[
            cfg.get('variant', 'B').upper()
        ]
        return k * C * (1 if div is None else div) + 2 * C
    if t == 'SE':
        s = C // 16
        return 2 * C * s + s + C
    if t == 'ECA':
        k = int(abs(math.log2(C) / 2 + 0.5))
        return k if k % 2 else k + 1
    if t == 'CoordAtt':
        m = max(8, C // 32)
        return C * m + m + 2 * m + 2 * (m * C + C)
    if t == 'CBAM':
        s = C // 16
        return 2 * C * s + s + C + 2 * 49
    raise AssertionError(t)


@functools.lru_cache(maxsize=None)
def baseline_params(path: str) -> int:
    return count_params(build_model(load_config(path)))


def metafile_params():
    out = {}
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    for path in index['Import']:
        with open(osp.join(ROOT, path)) as f:
            for m in yaml.safe_load(f)['Models']:
                out[osp.normpath(osp.join(ROOT, m['Config']))] = m['Metadata']['Parameters']
    return out


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_builds_runs_and_declares_its_attention(path):
    cfg = load_config(path)
    assert cfg.custom_imports['imports'] == ['ela_mm']
    model = build_model(cfg)
    torch.manual_seed(0)
    model.train()
    inputs, samples = synthetic_batch(cfg.default_scope, 2, (64, 64), num_classes(cfg))
    outs = tensor_outputs(model(inputs / 255, samples, mode='tensor'))
    assert outs and all(torch.isfinite(o).all() for o in outs)
    sum(o.float().sum() for o in outs).backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)
    declared = declared_attention(cfg.model.backbone)
    for att_cfg, widths in declared:
        cls = MODELS.get(att_cfg['type'])
        modules = [m for m in model.modules() if isinstance(m, cls)]
        if att_cfg['type'] == 'ECA':  # no channel-sized weight: its kernel follows C
            assert sorted(m.kernel_size for m in modules) == sorted(
                attention_params(att_cfg, w) for w in widths
            ), att_cfg
        else:  # the channels each module was built for
            first_conv = [
                next(c for c in m.modules() if isinstance(c, (nn.Conv1d, nn.Conv2d)))
                for m in modules
            ]
            assert sorted(c.in_channels for c in first_conv) == sorted(widths), att_cfg
    n = count_params(model)
    print(f'{osp.relpath(path, ROOT)}: {n} parameters')
    baseline = osp.join(osp.dirname(path), parse_config_name(path).baseline + '.py')
    if declared and osp.exists(baseline):  # the attention adds exactly its modules' parameters
        added = sum(attention_params(c, w) for c, ws in declared for w in ws)
        assert n - baseline_params(baseline) == added
    assert metafile_params().get(osp.normpath(path)) == n, (
        f'{osp.relpath(path, ROOT)} has {n} parameters; list it in its metafile.yml with that '
        f'count (python tools/misc/metafile.py --write)'
    )


def test_downstream_config_inherits_ours(tmp_path):
    """A project outside this repo inherits a config by path and switches the ELA variant with
    one line; the command-line form (--cfg-options) reaches into the plugin list too."""
    base = osp.join(ROOT, 'configs/yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py')
    (tmp_path / 'mine.py').write_text(
        f"_base_ = '{base}'\n"
        "model = dict(backbone=dict(plugins=[dict(cfg=dict(type='ELA', variant='B'), "
        'stages=(False, True, True, True))]))\n'
    )
    code = textwrap.dedent(
        """\
        import ela_mm.utils.config as r
        from ela_mm import ELA
        cfg = r.load_config('mine.py')
        m = r.build_model(cfg)
        print(sorted({x.variant for x in m.modules() if isinstance(x, ELA)}),
              cfg.model.bbox_head.num_classes)
        cfg = r.load_config(%r)
        cfg.merge_from_dict({'model.backbone.plugins.0.cfg.variant': 'S'}, allow_list_keys=True)
        print(cfg.model.backbone.plugins[0].cfg.variant)
        """
        % base
    )
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["['B']", '20', 'S'], out.stdout


#: toy model part -> its real config, '{att}' standing for '-<attention>' ('' for plain)
TOY_REAL = {
    'yolox_nano': 'configs/yolox/yolox_nano{att}_8xb8-300e_voc0712.py',
    'deeplabv3_r50-d8-w16': 'configs/deeplabv3/deeplabv3_r50-d8{att}_4xb4-20k_voc12aug-512x512.py',
    'resnet18': 'configs/resnet/resnet18{att}_8xb32_in1k.py',
}
TOY = sorted(glob.glob(osp.join(ROOT, 'configs', 'toy', '*.py')))


@pytest.mark.parametrize('path', TOY, ids=[osp.basename(p) for p in TOY])
def test_toy_rows_are_their_real_rows(path):
    """A toy row inherits the toy plain baseline and inserts its module exactly as the real row
    of the same attention does (ELA-B on YOLOX: as the real ELA-T row, with variant B); the toy
    plain baseline inherits the real plain baseline."""
    name = osp.splitext(osp.basename(path))[0]
    parsed = parse_config_name(name)
    model = parsed.model
    att = name[len(model) : name.index('_', len(model))]  # '-ela-t' or ''
    real_att = '-ela-t' if (model, att) == ('yolox_nano', '-ela-b') else att
    real = load_config(osp.join(ROOT, TOY_REAL[model].format(att=real_att)))
    toy = load_config(path)
    toy_bb, real_bb = toy.model.backbone.to_dict(), real.model.backbone.to_dict()
    for key in ('stem_channels', 'base_channels'):  # the toy DeepLabV3 is narrower
        toy_bb.pop(key, None), real_bb.pop(key, None)
    if real_att != att:
        real_bb['plugins'][0]['cfg']['variant'] = 'B'
    assert toy_bb == real_bb
    with open(path) as f:
        base = next(ln for ln in f if ln.startswith('_base_'))
    if parsed.attention is None:
        assert TOY_REAL[model].format(att='').split('/', 1)[1] in base
    else:
        assert f"'./{parsed.baseline}.py'" in base
