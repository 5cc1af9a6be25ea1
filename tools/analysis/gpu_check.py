"""Measure a GPU in one command: the CUDA tests, then the Triton kernels against the memory floor,
the PyTorch path and torch.compile, and three models' training steps; one Markdown report.

    python tools/analysis/gpu_check.py [--out work_dirs/gpu_check.md] [--budget 480]
    make gpu-check

On a machine with one CUDA GPU and triton, within ``--budget`` seconds (default 8 minutes; a
stage that would not fit is reported as not measured):

1. ``pytest tests/test_ops/test_cuda.py`` (the CUDA paths and the Triton kernels compiled);
2. the bandwidth of a plain copy (``dst.copy_(src)``, 2 bytes moved per byte copied);
3. each attention module (ELA-B, ELA-T, CA, SE, ECA) alone, forward (no grad) and
   forward+backward, in float32 and AMP (autocast float16): the Triton kernels
   (``ELA_MM_TRITON=1``), the PyTorch path (``ELA_MM_TRITON=0``) and ``torch.compile``, each
   against its memory floor: the bytes the fused passes must move (forward 3 x the input: one
   read for the strip means, one read and one write for the gate; backward 4 more: one read of
   the gradient and the input for the strip gradients, one read and one write for the input
   gradient) over the copy bandwidth;
4. YOLOX-Nano, ResNet-50 and DeepLabV3 training steps (AMP) with and without ELA (Triton and
   PyTorch path), time and peak memory.

Targets: ELA forward >= 80% of the copy bandwidth (time / floor <= 1.25), forward+backward
<= 1.25x its floor, the ELA model's step <= 1.03x the plain model's. Without a CUDA GPU (or
without triton) it refuses, exit status 2, before measuring anything.

``--smoke`` runs every stage but the CUDA tests on CPU at the smallest sizes (torch.compile with
its ``eager`` backend), in about a minute: it checks this tool on a machine without a GPU, so
that the one run on a GPU does not end in a Python error; its numbers measure nothing.
"""

import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODULES = ['ELA-B', 'ELA-T', 'CA', 'SE', 'ECA']
SHAPES = [(16, 64, 112, 112), (16, 256, 56, 56), (16, 512, 28, 28)]
#: torch.compile is measured at this shape only (each compilation takes tens of seconds)
COMPILE_SHAPE = SHAPES[1]
PATHS = ['triton', 'pytorch', 'compile']
#: bytes the fused passes move, in units of the input's size
FLOOR_PASSES = {'fwd': 3, 'fwd+bwd': 7}
#: --smoke: the modules' input, the models' input size and batch
SMOKE_SHAPE, SMOKE_HW, SMOKE_BATCH = (2, 32, 9, 11), (32, 32), 2
SMOKE_BANNER = '**Smoke run on CPU (`--smoke`): it checks the tool; its numbers measure nothing.**'
#: family -> (plain config, ELA config, input size, AMP train batch)
MODELS = {
    'YOLOX-Nano': (
        'yolox/yolox_nano_8xb8-300e_voc0712.py',
        'yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py',
        (416, 416),
        32,
    ),
    'ResNet-50': (
        'resnet/resnet50_8xb32_in1k.py',
        'resnet/resnet50-ela-b_8xb32_in1k.py',
        (224, 224),
        64,
    ),
    'DeepLabV3': (
        'deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py',
        'deeplabv3/deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512.py',
        (512, 512),
        8,
    ),
}
TARGETS = {'fwd': 1.25, 'fwd+bwd': 1.25, 'model': 1.03}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'gpu_check.md'))
    parser.add_argument('--budget', type=float, default=480, help='seconds in all (default 480)')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--skip-tests', action='store_true')
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='every stage but the CUDA tests on CPU at the smallest sizes: checks the tool, '
        'measures nothing',
    )
    return parser, parser.parse_args(argv)


def refusal(cuda: bool, triton: bool) -> Optional[str]:
    """Why this machine cannot be measured, or ``None``."""
    if not cuda:
        return (
            'gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); this command '
            'measures a GPU and has nothing to do on CPU. Run it on a machine with one CUDA GPU.'
        )
    if not triton:
        return (
            'gpu_check: triton is not installed; the Triton kernels it measures need it '
            '(pip install triton, the version your torch names).'
        )
    return None


def floor_seconds(passes: int, numel: int, elt: int, copy_bw: float) -> float:
    """The least time ``passes`` passes over ``numel`` elements of ``elt`` bytes take at the
    bandwidth of a plain copy (bytes per second, reads and writes counted)."""
    return passes * numel * elt / copy_bw


def _ratio(num: Optional[float], den: Optional[float]) -> str:
    return f'{num / den:.2f}' if num and den else 'n/a'


def _ms(t: Optional[float]) -> str:
    return f'{t * 1e3:.3f} ms' if t else 'not measured'


def _met(value: Optional[float], target: float) -> str:
    if value is None:
        return 'not measured'
    return 'yes' if value <= target else '**no**'


def render(res: Dict) -> str:
    """The Markdown report of a results dict (see :func:`main` for its keys)."""
    out = [
        '# GPU check',
        '',
        *([SMOKE_BANNER, ''] if res.get('smoke') else []),
        f'Measured {res["date"]} on {res["device"]}, torch {res["torch"]}, triton '
        f'{res["triton"]}, by `python tools/analysis/gpu_check.py` ({res["elapsed"]:.0f} s).',
        f'{res["kernels"]}.',
        '',
        '## CUDA tests',
        '',
        res.get('tests', 'not run'),
        '',
        '## Attention modules',
        '',
        f'Copy bandwidth (`dst.copy_(src)`, read + write): **{res["copy_bw"] / 1e9:.0f} GB/s**. '
        'Floor: forward 3 passes over the input, forward+backward 7, at that bandwidth; '
        '`/ floor` is time over floor (target <= 1.25: >= 80% of the copy bandwidth).',
        '',
        '| module | shape | precision | pass | floor | Triton | / floor | PyTorch | / floor '
        '| compile | / floor | Triton / PyTorch | Triton / compile |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    verdicts = []
    for r in res['modules']:
        t = r['times']
        tr, pt, co = t.get('triton'), t.get('pytorch'), t.get('compile')
        out.append(
            f'| {r["module"]} | {r["shape"]} | {r["precision"]} | {r["pass"]} | '
            f'{_ms(r["floor"])} | {_ms(tr)} | {_ratio(tr, r["floor"])} | {_ms(pt)} | '
            f'{_ratio(pt, r["floor"])} | {_ms(co)} | {_ratio(co, r["floor"])} | '
            f'{_ratio(tr, pt)} | {_ratio(tr, co)} |'
        )
        if r['module'].startswith('ELA'):
            v = tr / r['floor'] if tr else None
            verdicts.append(
                (
                    f'{r["module"]} {r["pass"]} / floor, {r["shape"]} {r["precision"]}',
                    v,
                    TARGETS[r['pass']],
                )
            )
    precision = 'float32, `--smoke`' if res.get('smoke') else 'AMP'
    out += ['', f'## Training steps ({precision})', '']
    out += [
        f'{precision}, synthetic batches, interleaved rounds (medians). Peak: the training '
        "step's allocation peak above what was resident before it (CUDA only).",
        '',
    ]
    out += [
        '| model | batch | plain | + ELA (Triton) | / plain | + ELA (PyTorch) | / plain '
        '| peak plain | peak + ELA (Triton) | peak + ELA (PyTorch) |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in res['models']:
        t, m = r['times'], r['peak']
        mib = {k: f'{v / 2**20:.0f} MiB' if v else 'n/a' for k, v in m.items()}
        out.append(
            f'| {r["model"]} | {r["batch"]} | {_ms(t.get("plain"))} | {_ms(t.get("triton"))} | '
            f'{_ratio(t.get("triton"), t.get("plain"))} | {_ms(t.get("pytorch"))} | '
            f'{_ratio(t.get("pytorch"), t.get("plain"))} | {mib.get("plain", "n/a")} | '
            f'{mib.get("triton", "n/a")} | {mib.get("pytorch", "n/a")} |'
        )
        plain, tri = t.get('plain'), t.get('triton')
        verdicts.append(
            (f'{r["model"]} + ELA step / plain', tri / plain if tri and plain else None, 1.03)
        )
    out += ['', '## Targets', '', '| target | measured | target | met |', '|---|---|---|---|']
    for name, v, target in verdicts:
        out.append(f"| {name} | {'n/a' if v is None else f'{v:.3f}'} | <= {target} | "
                   f'{_met(v, target)} |')  # fmt: skip
    launches = res.get('launches')
    if launches is not None:
        counts = ', '.join(f'{k} {v}' for k, v in launches.items()) or 'none'
        out += ['', f'Triton kernel launches: {counts}.']
    for note in res.get('notes', []):
        out += ['', f'Note: {note}']
    return '\n'.join(out) + '\n'


# ---- measuring (CUDA only) ----


def _time(fns: Dict[str, callable], repeats: int, device: str) -> Dict[str, float]:
    from ela_mm.analysis.timing import interleaved_samples

    samples = interleaved_samples(fns, device, repeats)
    return {k: statistics.median(v) for k, v in samples.items()}


def copy_bandwidth(repeats: int, device: str = 'cuda', nbytes: int = 2**28) -> float:
    """Bytes per second a plain copy of ``nbytes`` (default 256 MiB) moves, read + write."""
    import torch

    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    t = _time({'copy': lambda: dst.copy_(src)}, repeats, device)['copy']
    return 2 * src.numel() / t


class _Triton:
    """``ELA_MM_TRITON`` set for the duration of a call."""

    def __init__(self, on: bool, fn):
        self.on, self.fn = on, fn

    def __call__(self):
        old = os.environ.get('ELA_MM_TRITON')
        os.environ['ELA_MM_TRITON'] = '1' if self.on else '0'
        try:
            self.fn()
        finally:
            if old is None:
                del os.environ['ELA_MM_TRITON']
            else:
                os.environ['ELA_MM_TRITON'] = old


def _module(name: str, c: int, device: str):
    from ela_mm.models.attention import ECA, ELA, SE, CoordAtt

    return {
        'ELA-B': lambda: ELA(c, 'B'),
        'ELA-T': lambda: ELA(c, 'T'),
        'CA': lambda: CoordAtt(c),
        'SE': lambda: SE(c),
        'ECA': lambda: ECA(c),
    }[name]().to(device)


def measure_modules(
    copy_bw: float,
    repeats: int,
    deadline: float,
    notes: List[str],
    device: str = 'cuda',
    shapes=SHAPES,
    compile_shape=COMPILE_SHAPE,
    compile_backend: str = 'inductor',
):
    import torch

    rows = []
    for precision, dtype in (('fp32', torch.float32), ('AMP fp16', torch.float16)):
        for shape in shapes:
            x = torch.randn(shape, device=device, dtype=dtype)
            grad = torch.randn_like(x)
            xg = x.clone().requires_grad_()
            for name in MODULES:
                if time.time() > deadline:
                    notes.append(f'modules: stopped at {name} {shape} {precision} (time budget)')
                    return rows
                m = _module(name, shape[1], device)
                comp = None
                if shape == compile_shape and time.time() < deadline - 60:
                    comp = torch.compile(m, dynamic=False, backend=compile_backend)
                amp = dict(device_type=device, dtype=dtype, enabled=dtype != torch.float32)

                def fwd(f):
                    def run():
                        with torch.no_grad(), torch.autocast(**amp):
                            f(x)

                    return run

                def step(f):
                    def run():
                        with torch.autocast(**amp):
                            y = f(xg)
                        y.backward(grad)
                        xg.grad = None
                        for p in m.parameters():
                            p.grad = None

                    return run

                for kind, make in (('fwd', fwd), ('fwd+bwd', step)):
                    fns = {'triton': _Triton(True, make(m)), 'pytorch': _Triton(False, make(m))}
                    if comp is not None:
                        try:
                            make(comp)()  # compile outside the timing
                            fns['compile'] = make(comp)
                        except Exception as e:  # noqa: BLE001 (reported, not fatal)
                            notes.append(f'torch.compile failed on {name} {kind}: {e}')
                    floor = floor_seconds(FLOOR_PASSES[kind], x.numel(), x.element_size(), copy_bw)
                    rows.append(
                        dict(
                            module=name,
                            shape=str(shape),
                            precision=precision,
                            kind=kind,
                            times=_time(fns, repeats, device),
                            floor=floor,
                        )
                    )
                    rows[-1]['pass'] = rows[-1].pop('kind')
    return rows


def measure_models(
    repeats: int,
    deadline: float,
    notes: List[str],
    device: str = 'cuda',
    size: Optional[tuple] = None,
    amp: bool = True,
):
    """Training steps of :data:`MODELS` (under autocast float16 with ``amp``); ``size``:
    (input size, batch) instead of theirs. Peak memory is measured on CUDA only."""
    import torch

    from ela_mm.analysis.synthetic import num_classes, synthetic_batch
    from ela_mm.utils.config import build_model, config_path, load_config

    cuda = device == 'cuda'
    rows = []
    for family, (plain_cfg, ela_cfg, hw, batch) in MODELS.items():
        hw, batch = size or (hw, batch)
        if time.time() > deadline:
            notes.append(f'models: {family} and after not measured (time budget)')
            break
        fns, peak = {}, {}
        for key, cfg_name, on in (
            ('plain', plain_cfg, False),
            ('triton', ela_cfg, True),
            ('pytorch', ela_cfg, False),
        ):
            cfg = load_config(config_path(cfg_name))
            model = build_model(cfg).to(device).train()
            inputs, samples = synthetic_batch(
                cfg.default_scope, batch, hw, num_classes(cfg), device
            )

            def run(model=model, inputs=inputs, samples=samples):
                with torch.autocast(device, torch.float16, enabled=amp):
                    loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
                loss.backward()
                for p in model.parameters():
                    p.grad = None

            fns[key] = _Triton(on, run)
            fns[key]()  # warm-up: lazy allocations, autotuning, BN buffers
            peak[key] = None
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                resident = torch.cuda.memory_allocated()
                fns[key]()
                torch.cuda.synchronize()
                peak[key] = torch.cuda.max_memory_allocated() - resident  # the step's own peak
        rows.append(
            dict(
                model=family,
                batch=batch,
                times=_time(fns, max(5, repeats // 2) if cuda else repeats, device),
                peak=peak,
            )
        )
        del fns
        if cuda:
            torch.cuda.empty_cache()
    return rows


def run_tests(timeout: float) -> str:
    env = dict(os.environ)
    env.pop('TRITON_INTERPRET', None)
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rfE']
    cmd.append(osp.join(ROOT, 'tests', 'test_ops', 'test_cuda.py'))
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f'`pytest tests/test_ops/test_cuda.py`: stopped after {timeout:.0f} s (budget)'
    lines = (out.stdout + out.stderr).strip().splitlines()
    tail = '\n'.join(lines[-15:])
    return (
        f'`pytest tests/test_ops/test_cuda.py` (exit status {out.returncode}):\n\n```\n{tail}\n```'
    )


def _triton_version() -> str:
    from importlib.metadata import version

    return version('triton')


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    import importlib.util

    from ela_mm.utils.cli import start as start_tool

    start_tool(parser, args)
    import torch

    has_triton = importlib.util.find_spec('triton') is not None
    why = None if args.smoke else refusal(torch.cuda.is_available(), has_triton)
    if why:
        print(why, file=sys.stderr)
        return 2
    start = time.time()
    deadline = start + args.budget
    from ela_mm.ops import kernels_in_use
    from ela_mm.ops import triton as tk

    notes: List[str] = []
    device = 'cpu' if args.smoke else 'cuda'
    res = dict(
        date=time.strftime('%Y-%m-%d'),
        device='CPU (smoke run)' if args.smoke else torch.cuda.get_device_name(0),
        torch=torch.__version__,
        triton=_triton_version() if has_triton else 'not installed',
        notes=notes,
        smoke=args.smoke,
    )
    os.environ['ELA_MM_TRITON'] = '1'
    res['kernels'] = kernels_in_use()
    if args.smoke:
        res['tests'] = 'not run (`--smoke`)'
    elif not args.skip_tests:
        print('gpu_check: CUDA tests ...', flush=True)
        res['tests'] = run_tests(min(150, args.budget * 0.3))
    print('gpu_check: copy bandwidth, modules ...', flush=True)
    if args.smoke:
        res['copy_bw'] = copy_bandwidth(args.repeats, device, 2**20)
        res['modules'] = measure_modules(
            res['copy_bw'], args.repeats, deadline, notes, device, [SMOKE_SHAPE], SMOKE_SHAPE,
            'eager',
        )  # fmt: skip
    else:
        res['copy_bw'] = copy_bandwidth(args.repeats)
        modules_deadline = start + args.budget * 0.7
        res['modules'] = measure_modules(res['copy_bw'], args.repeats, modules_deadline, notes)
    print('gpu_check: models ...', flush=True)
    size = (SMOKE_HW, SMOKE_BATCH) if args.smoke else None
    # --smoke: float32 (float16 convolutions are slow on CPU)
    res['models'] = measure_models(args.repeats, deadline - 45, notes, device, size, not args.smoke)
    res['launches'] = launches = dict(sorted(tk.launches.items()))
    if not launches:
        notes.append(
            '**the Triton kernels never ran**: the Triton columns measured the path that runs '
            'without them (' + res['kernels'] + ')'
        )
    res['elapsed'] = time.time() - start
    text = render(res)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    print(text)
    print(f'gpu_check: report written to {args.out}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
