"""The analysis tools run end to end: model FLOPs, one model's speed, the comparison table."""

import os.path as osp
import subprocess
import sys

import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _run(args):
    out = subprocess.run(
        [sys.executable] + args, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_get_model_flops_tool():
    out = _run(
        [
            'tools/analysis/get_model_flops.py',
            'configs/resnet/resnet50-ela-b_8xb32_in1k.py',
            '--shape',
            '64',
            '64',
        ]
    )
    values = {
        line.split(':')[0].strip(): int(line.split(':')[1].split()[0].replace(',', ''))
        for line in out.splitlines()
        if line.startswith(('parameters', 'MACs', 'elementwise', 'total'))
    }
    meta = yaml.safe_load(open(osp.join(ROOT, 'configs/resnet/metafile.yml')))
    params = {m['Name']: m['Metadata']['Parameters'] for m in meta['Models']}
    assert values['parameters'] == params['resnet50-ela-b_8xb32_in1k']
    assert values['MACs (mmengine)'] > 0 and values['elementwise ops'] > 0
    assert values['total'] == values['MACs (mmengine)'] + values['elementwise ops']


def test_bench_model_tool():
    out = _run(
        [
            'tools/analysis/bench_model.py',
            'configs/resnet/resnet18-ela-b_8xb32_in1k.py',
            '--shape',
            '64',
            '64',
            '--batch',
            '2',
            '--repeats',
            '1',
        ]
    )
    ms = [
        float(line.split()[-2 if 'MiB' in line else -2])
        for line in out.splitlines()
        if line.strip().startswith(('inference, batch 1', 'training step, batch'))
    ]
    assert len(ms) == 2 and all(v > 0 for v in ms)
    assert 'training step peak memory' in out


def test_compare_models_tool(tmp_path):
    md = tmp_path / 'bench.md'
    out = _run(
        [
            'tools/analysis/compare_models.py',
            'yolox',
            '--shape',
            '64',
            '64',
            '--repeats',
            '1',
            '--write',
            str(md),
        ]
    )
    rows = [line for line in out.splitlines() if line.startswith('| yolox')]
    assert [r.split('|')[1].strip() for r in rows] == [
        'yolox plain',
        'yolox ELA-T',
        'yolox SE',
        'yolox ECA',
        'yolox CA',
        'yolox CBAM',
    ]
    assert rows[0].split('|')[6].strip() == '1.000'  # the plain row is the reference
    assert all(float(r.split('|')[6]) > 0 and float(r.split('|')[8]) > 0 for r in rows)
    assert 'ELA-T latency / CA latency' in out and 'ELA-T latency / plain latency' in out
    text = md.read_text()
    assert 'compare_models.py yolox' in text and '<!-- compare_models:yolox:cpu:start' in text


def test_analysis_tools_take_cfg_options():
    """--cfg-options reaches the model the tool measures: ELA-S instead of ELA-B."""

    def params(*extra):
        out = _run(
            [
                'tools/analysis/get_model_flops.py',
                'configs/resnet/resnet18-ela-b_8xb32_in1k.py',
                '--shape',
                '32',
                '32',
                *extra,
            ]
        )
        line = next(x for x in out.splitlines() if x.startswith('parameters'))
        return int(line.split(':')[1].split()[0].replace(',', ''))

    b = params()
    s = params('--cfg-options', 'model.backbone.attention.variant=S')
    widths = [64] * 2 + [128] * 2 + [256] * 2 + [512] * 2  # ResNet-18 blocks
    assert s - b == sum((42 - 9) * c for c in widths)  # ELA-S 42C vs ELA-B 9C per module
