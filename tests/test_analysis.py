"""The cost tools: FLOPs that count attention's own work, and the benchmark scripts run."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from ela_mm import ELA
from ela_mm.benchmark import count_flops, paired_ratio, peak_bytes
from ela_mm.runtime import build_model, count_params, load_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def ela_ops(C, H, W, k, groups, shared=True):
    """Hand-derived cost of one ELA module on a (1, C, H, W) input (get_flops units):
    conv MACs k*C*(C/g) per strip position; GroupNorm 5 per element (mmengine); strip means
    C*H*W each (input size); sigmoid one per strip element; two gating products C*H*W each."""
    macs = k * C * (C // groups) * (H + W) + 5 * C * (H + W)
    elementwise = 2 * C * H * W + C * (H + W) + 2 * C * H * W
    return macs, elementwise


@pytest.mark.parametrize('variant,shape', [('B', (64, 9, 13)), ('T', (64, 8, 8)),
                                           ('S', (64, 7, 5)), ('L', (32, 6, 6))])
def test_ela_flops_match_formula(variant, shape):
    C, H, W = shape
    m = ELA(C, variant)
    m.eval()
    got = count_flops(m, (torch.rand(1, C, H, W), ))
    macs, elementwise = ela_ops(C, H, W, m.kernel_size, m.conv_groups)
    assert got == dict(macs=macs, elementwise=elementwise, total=macs + elementwise)


def test_attention_cost_in_a_whole_model_is_exactly_its_modules():
    """YOLOX-Nano + ELA-T minus plain YOLOX-Nano: the three ELA modules' formulas, at the
    stage sizes of a 64x64 input (strides 8, 16, 32), and 7C parameters each."""
    plain = build_model(load_config(osp.join(
        ROOT, 'configs/yolox/yolox_nano_8xb8-300e_voc0712.py')))
    ela = build_model(load_config(osp.join(
        ROOT, 'configs/yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py')))
    x = (torch.rand(1, 3, 64, 64), )
    plain.eval(), ela.eval()
    with torch.no_grad():
        a, b = count_flops(plain, x), count_flops(ela, x)
    stages = [(64, 8), (128, 4), (256, 2)]
    macs = sum(ela_ops(C, s, s, 5, C)[0] for C, s in stages)
    elementwise = sum(ela_ops(C, s, s, 5, C)[1] for C, s in stages)
    assert b['macs'] - a['macs'] == macs
    assert b['elementwise'] - a['elementwise'] == elementwise
    assert count_params(ela) - count_params(plain) == 7 * (64 + 128 + 256)


def _run(args):
    out = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_cpu_peak_bytes_is_exact():
    """The CPU peak replays every allocation and free: 4 MB + 8 MB live together, then 4 MB
    freed and 4 MB allocated again: peak 12 MB, whatever the heap did meanwhile."""
    def fn():
        a = torch.empty(1_000_000)
        b = torch.empty(2_000_000)
        del a
        c = torch.empty(1_000_000)
        del b, c
    assert peak_bytes(fn, 'cpu') == 12_000_000
    assert peak_bytes(lambda: None, 'cpu') == 0


def test_paired_ratio_takes_the_median_of_round_ratios():
    # a slow round (3rd) slows both candidates: the ratio of that round stays 0.5
    assert paired_ratio([1.0, 1.0, 4.0, 1.0, 3.0], [2.0, 2.0, 8.0, 2.0, 2.0]) == 0.5


def test_get_flops_tool():
    out = _run(['tools/analysis/get_flops.py',
                'configs/resnet/resnet50-ela-b_8xb32_in1k.py', '--shape', '64', '64'])
    values = {line.split(':')[0].strip(): int(line.split(':')[1].split()[0].replace(',', ''))
              for line in out.splitlines()
              if line.startswith(('parameters', 'MACs', 'elementwise', 'total'))}
    import yaml
    meta = yaml.safe_load(open(osp.join(ROOT, 'configs/resnet/metafile.yml')))
    params = {m['Name']: m['Metadata']['Parameters'] for m in meta['Models']}
    assert values['parameters'] == params['resnet50-ela-b_8xb32_in1k']
    assert values['MACs (mmengine)'] > 0 and values['elementwise ops'] > 0
    assert values['total'] == values['MACs (mmengine)'] + values['elementwise ops']


def test_benchmark_tool():
    out = _run(['tools/analysis/benchmark.py', 'configs/resnet/resnet18-ela-b_8xb32_in1k.py',
                '--shape', '64', '64', '--batch', '2', '--repeats', '1'])
    ms = [float(line.split()[-2 if 'MiB' in line else -2]) for line in out.splitlines()
          if line.strip().startswith(('inference, batch 1', 'training step, batch'))]
    assert len(ms) == 2 and all(v > 0 for v in ms)
    assert 'training step peak memory' in out


def test_compare_attention_tool(tmp_path):
    md = tmp_path / 'bench.md'
    out = _run(['tools/analysis/compare_attention.py', 'yolox', '--shape', '64', '64',
                '--repeats', '1', '--write', str(md)])
    rows = [line for line in out.splitlines() if line.startswith('| yolox')]
    assert [r.split('|')[1].strip() for r in rows] == [
        'yolox plain', 'yolox ELA-T', 'yolox SE', 'yolox ECA', 'yolox CA', 'yolox CBAM']
    assert rows[0].split('|')[6].strip() == '1.000'  # the plain row is the reference
    assert all(float(r.split('|')[6]) > 0 and float(r.split('|')[8]) > 0 for r in rows)
    assert 'ELA-T latency / CA latency' in out and 'ELA-T latency / plain latency' in out
    text = md.read_text()
    assert 'compare_attention.py yolox' in text and '<!-- compare_attention:yolox:cpu:start' in text
