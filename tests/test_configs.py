"""Every shipped config builds, runs forward and backward, holds the attention it declares, and
its parameter count is the one the metafiles (and so the README) state."""
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from mmengine.registry import MODELS

from ela_mm.runtime import build_model, count_params, load_config, tensor_outputs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if f'{os.sep}_base_{os.sep}' not in p)
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3),
                 152: (3, 8, 36, 3)}
MOBILENET_V2_BLOCKS = (1, 2, 3, 4, 3, 3, 1)


def declared_attention(backbone: dict):
    """(attention config, expected module count) as the config declares them, from the
    architecture tables, independently of the code that builds the model."""
    t = backbone['type']
    if t == 'PluginCSPDarknet':
        return [(p['cfg'], sum(p['stages'])) for p in backbone.get('plugins') or []]
    if t == 'PluginResNetV1c':
        blocks = RESNET_BLOCKS[backbone['depth']]
        return [(p['cfg'], sum(b for b, on in zip(blocks, p['stages']) if on))
                for p in backbone.get('plugins') or []]
    if t in ('AttnResNet', 'AttnMobileNetV2'):
        if backbone.get('attention') is None:
            return []
        blocks = RESNET_BLOCKS[backbone['depth']] if t == 'AttnResNet' else MOBILENET_V2_BLOCKS
        flags = backbone.get('attention_stages') or (True, ) * len(blocks)
        return [(backbone['attention'], sum(b for b, on in zip(blocks, flags) if on))]
    assert backbone.get('plugins') is None, f'unknown backbone {t} with plugins'
    return []


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
    outs = tensor_outputs(model(torch.rand(2, 3, 64, 64), mode='tensor'))
    assert outs and all(torch.isfinite(o).all() for o in outs)
    sum(o.float().sum() for o in outs).backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)
    for att_cfg, expected in declared_attention(cfg.model.backbone):
        cls = MODELS.get(att_cfg['type'])
        assert sum(isinstance(m, cls) for m in model.modules()) == expected, att_cfg
    n = count_params(model)
    print(f'{osp.relpath(path, ROOT)}: {n} parameters')
    assert metafile_params().get(osp.normpath(path)) == n, (
        f'{osp.relpath(path, ROOT)} has {n} parameters; list it in its metafile.yml with that '
        f'count (python tools/misc/metafile.py --write)')


def test_downstream_config_inherits_ours(tmp_path):
    """A project outside this repo inherits a config by path and switches the ELA variant with
    one line; the command-line form (--cfg-options) reaches into the plugin list too."""
    base = osp.join(ROOT, 'configs/yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py')
    (tmp_path / 'mine.py').write_text(
        f"_base_ = '{base}'\n"
        "model = dict(backbone=dict(plugins=[dict(cfg=dict(type='ELA', variant='B'), "
        "stages=(False, True, True, True))]))\n")
    code = textwrap.dedent("""\
        import ela_mm.runtime as r
        from ela_mm import ELA
        cfg = r.load_config('mine.py')
        m = r.build_model(cfg)
        print(sorted({x.variant for x in m.modules() if isinstance(x, ELA)}),
              cfg.model.bbox_head.num_classes)
        cfg = r.load_config(%r)
        cfg.merge_from_dict({'model.backbone.plugins.0.cfg.variant': 'S'}, allow_list_keys=True)
        print(cfg.model.backbone.plugins[0].cfg.variant)
        """ % base)
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["['B']", '20', 'S'], out.stdout
