"""torch.compile (inductor) against the fused eager path, for the modules and one whole model.

    python tools/analysis/bench_compile.py [--device cpu|cuda] [--repeats 10]
        [--shape N C H W] [--model resnet/resnet18-ela-b_8xb32_in1k.py] [--write MD]

In ONE process, interleaved: a training step (forward + backward) of ELA-B and CA on a feature
map, and of a whole model (default ResNet-18 + ELA-B, mmpretrain, batch 8 at 224x224), eager
(the fused autograd functions and, on CPU, the C++ kernels) and compiled with
``torch.compile(backend='inductor', dynamic=True)`` (which traces the modules' plain-PyTorch
form, see ``ela_mm.ops.path.select_path``). Prints the compile time (first call) and the medians and
paired ratio of the step times afterwards.
"""

import argparse
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--shape', type=int, nargs=4, default=(8, 64, 56, 56))
    parser.add_argument('--model', default='resnet/resnet18-ela-b_8xb32_in1k.py')
    parser.add_argument('--model-batch', type=int, default=8)
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    return parser, parser.parse_args(argv)


def module_step(module, x):
    def run():
        module(x).sum().backward()
        x.grad = None
        for p in module.parameters():
            p.grad = None

    return run


def model_step(model, inputs, samples):
    def run():
        loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
        loss.backward()
        for p in model.parameters():
            p.grad = None

    return run


def compiled_first_call(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    import torch

    from ela_mm.analysis.report import report
    from ela_mm.analysis.synthetic import num_classes, synthetic_batch
    from ela_mm.analysis.timing import interleaved_samples, paired_ratio
    from ela_mm.models.attention import ELA, CoordAtt
    from ela_mm.utils.config import build_model, load_config

    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    dev = args.device
    steps, compile_s, rows = {}, {}, []
    for name, make in (('ELA-B', lambda c: ELA(c, 'B')), ('CA', CoordAtt)):
        eager = make(args.shape[1]).to(dev).train()
        compiled = torch.compile(
            make(args.shape[1]).to(dev).train(), backend='inductor', dynamic=True
        )
        x = torch.randn(*args.shape, device=dev, requires_grad=True)
        steps[f'{name} eager'] = module_step(eager, x)
        steps[f'{name} compiled'] = module_step(compiled, x)
        compile_s[name] = compiled_first_call(steps[f'{name} compiled'])
        rows.append((name, f'{name} eager', f'{name} compiled'))
    cfg = load_config(osp.join(ROOT, 'configs', args.model))
    label = osp.splitext(osp.basename(args.model))[0]
    hw = (224, 224) if cfg.default_scope == 'mmpretrain' else (320, 320)
    inputs, samples = synthetic_batch(
        cfg.default_scope, args.model_batch, hw, num_classes(cfg), dev
    )
    eager_model = build_model(cfg).to(dev).train()
    compiled_model = build_model(cfg).to(dev).train()
    compiled_model.forward = torch.compile(compiled_model.forward, backend='inductor', dynamic=True)
    steps[f'{label} eager'] = model_step(eager_model, inputs, samples)
    steps[f'{label} compiled'] = model_step(compiled_model, inputs, samples)
    compile_s[label] = compiled_first_call(steps[f'{label} compiled'])
    rows.append((label, f'{label} eager', f'{label} compiled'))
    for step in steps.values():
        step()  # warm
    samples_s = interleaved_samples(steps, dev, args.repeats)
    out = [
        '| train step | eager (fused) | compiled (inductor) | compiled / eager | first compiled '
        'call (compiles) |',
        '|---|---|---|---|---|',
    ]
    for name, e, c in rows:
        out.append(
            f'| {name} | {statistics.median(samples_s[e]) * 1e3:.1f} ms | '
            f'{statistics.median(samples_s[c]) * 1e3:.1f} ms | '
            f'{paired_ratio(samples_s[c], samples_s[e]):.3f} | {compile_s[name]:.0f} s |'
        )
    text = '\n'.join(out)
    print(text)
    if args.write:
        n, c, h, w = args.shape
        report(
            args.write,
            f'bench_compile:{dev}',
            f'torch.compile vs fused eager ({dev}; modules at {n}x{c}x{h}x{w}, {label} at batch '
            f'{args.model_batch}, {hw[0]}x{hw[1]})',
            dev,
            args.repeats,
            text,
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
