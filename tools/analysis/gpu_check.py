"""Measure a GPU in one command: the CUDA tests, then the Triton kernels against the memory floor,
the PyTorch path and torch.compile, and three models' training steps; one Markdown report.

    python tools/analysis/gpu_check.py [--out work_dirs/gpu_check.md] [--budget 480]
    make gpu-check

On a machine with one CUDA GPU and triton, within ``--budget`` seconds (default 8 minutes; a
stage that would not fit is reported as not measured; the report is written after every stage,
and an error in one case is a note of it, not the end of the run):

1. ``pytest tests/test_ops/test_cuda.py`` (the CUDA paths and the Triton kernels on the GPU),
   in 4 pytest-xdist workers, for at most 30% of the budget or 150 s, whichever is less;
2. the bandwidth of a plain copy (``dst.copy_(src)``, 2 bytes moved per byte copied);
3. each attention module (ELA-B, ELA-T, CA, SE, ECA) alone, forward (no grad) and
   forward+backward, in float32 and AMP (autocast float16): the Triton kernels
   (``ELA_MM_TRITON=1``) and the PyTorch path (``ELA_MM_TRITON=0``), each against its memory
   floor: the bytes the fused passes must move (forward 3 x the input: one
   read for the strip means, one read and one write for the gate; backward 4 more: one read of
   the gradient and the input for the strip gradients, one read and one write for the input
   gradient) over the copy bandwidth;
4. YOLOX-Nano, ResNet-50 and DeepLabV3 training steps (AMP) with and without ELA (Triton and
   PyTorch path), time and peak memory;
5. with the time left, ``torch.compile`` of each module (ELA first) at one shape, against the
   Triton kernels.

Targets: ELA forward >= 80% of the copy bandwidth (time / floor <= 1.25), forward+backward
<= 1.25x its floor, the ELA model's step <= 1.03x the plain model's. Without a CUDA GPU (or
without triton) it refuses, exit status 2, before measuring anything.

``--smoke`` runs every stage but the CUDA tests on CPU at the smallest sizes (torch.compile with
its ``eager`` backend), in about 20 s: it checks this tool on a machine without a GPU, so
that the one run on a GPU does not end in a Python error; its numbers measure nothing.
"""

import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

STARTED = time.time()  # the budget counts from the start of the process

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


def _gbs(bw: Optional[float]) -> str:
    return f'{bw / 1e9:.0f} GB/s' if bw else 'not measured'


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
        f'Copy bandwidth (`dst.copy_(src)`, read + write): **{_gbs(res.get("copy_bw"))}**. '
        'Floor: forward 3 passes over the input, forward+backward 7, at that bandwidth; '
        '`/ floor` is time over floor (target <= 1.25: >= 80% of the copy bandwidth).',
        '',
        '| module | shape | precision | pass | floor | Triton | / floor | PyTorch | / floor '
        '| compile | / floor | Triton / PyTorch | Triton / compile |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    verdicts = []
    for r in res.get('modules', []):
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
    for r in res.get('models', []):
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


def copy_bandwidth(repeats: int, device: str = 'cuda', nbytes: int = 2**28) -> float:
    """Bytes per second a plain copy of ``nbytes`` (default 256 MiB) moves, read + write."""
    import torch

    from ela_mm.analysis.timing import interleaved

    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    t = interleaved({'copy': lambda: dst.copy_(src)}, device, repeats)['copy']
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


PRECISIONS = (('fp32', 'float32'), ('AMP fp16', 'float16'))


class _Case:
    """One module at one shape and precision: its input, an output gradient, and its passes
    (``fwd``: forward without grad; ``fwd+bwd``: forward and backward) as closures."""

    def __init__(self, name: str, shape: tuple, dtype: str, device: str):
        import torch

        self.torch = torch
        self.m = _module(name, shape[1], device)
        dtype = getattr(torch, dtype)
        self.x = torch.randn(shape, device=device, dtype=dtype)
        self.grad = torch.randn_like(self.x)
        self.xg = self.x.clone().requires_grad_()
        self.amp = dict(device_type=device, dtype=dtype, enabled=dtype != torch.float32)

    def floor(self, kind: str, copy_bw: float) -> float:
        return floor_seconds(FLOOR_PASSES[kind], self.x.numel(), self.x.element_size(), copy_bw)

    def fn(self, kind: str, f):
        torch = self.torch

        def fwd():
            with torch.no_grad(), torch.autocast(**self.amp):
                f(self.x)

        def step():
            with torch.autocast(**self.amp):
                y = f(self.xg)
            y.backward(self.grad)
            self.xg.grad = None
            for p in self.m.parameters():
                p.grad = None

        return fwd if kind == 'fwd' else step


def measure_modules(
    copy_bw: float,
    repeats: int,
    deadline: float,
    notes: List[str],
    device: str = 'cuda',
    shapes=SHAPES,
    rows: Optional[List[Dict]] = None,
) -> List[Dict]:
    """Each module's passes on the Triton kernels and on the PyTorch path, interleaved (the
    rows appended to ``rows`` as they are measured)."""
    from ela_mm.analysis.timing import interleaved

    rows = [] if rows is None else rows
    for precision, dtype in PRECISIONS:
        for shape in shapes:
            for name in MODULES:
                if time.time() > deadline:
                    notes.append(f'modules: stopped at {name} {shape} {precision} (time budget)')
                    return rows

                def measure(name=name, shape=shape, precision=precision, dtype=dtype):
                    case = _Case(name, shape, dtype, device)
                    for kind in FLOOR_PASSES:
                        f = case.fn(kind, case.m)
                        fns = {'triton': _Triton(True, f), 'pytorch': _Triton(False, f)}
                        rows.append(
                            {
                                'module': name,
                                'shape': str(shape),
                                'precision': precision,
                                'pass': kind,
                                'times': interleaved(fns, device, repeats),
                                'floor': case.floor(kind, copy_bw),
                            }
                        )

                _guarded(measure, f'modules: {name} {shape} {precision}', notes)
    return rows


class GpuUnusable(RuntimeError):
    """A CUDA error (an illegal memory access, a launch failure) leaves the context unusable:
    the run stops, with the report as far as it got."""


def _guarded(fn: Callable[[], None], what: str, notes: List[str]) -> None:
    """Run ``fn``; an error (out of memory, an op that fails on this GPU) is noted in the
    report and the next case runs; a CUDA error, which every later call would repeat, raises
    :class:`GpuUnusable`."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (reported, not fatal)
        notes.append(f'{what}: not measured ({type(e).__name__}: {str(e)[:300]})')
        if 'CUDA error' in str(e) or 'illegal memory access' in str(e):
            raise GpuUnusable(f'{what}: {e}') from e
        import torch

        if torch.cuda.is_available():
            try:
                torch.cuda.empty_cache()
            except Exception as again:  # noqa: BLE001
                raise GpuUnusable(f'{what}: {again}') from again


def measure_compile(
    rows: List[Dict],
    repeats: int,
    deadline: float,
    notes: List[str],
    device: str = 'cuda',
    shape=COMPILE_SHAPE,
    backend: str = 'inductor',
) -> None:
    """``torch.compile`` times into ``rows`` at ``shape``, ELA first; run last, since each
    compilation may take tens of seconds: what the budget leaves out is noted."""
    import torch

    from ela_mm.analysis.timing import interleaved

    for name in MODULES:
        for precision, dtype in PRECISIONS:
            row = {r['pass']: r for r in rows if (r['module'], r['shape'], r['precision'])
                   == (name, str(shape), precision)}  # fmt: skip
            if not row:
                continue
            if time.time() > deadline - 60:  # one module's compilations may take a minute
                notes.append(
                    f'torch.compile: not measured from {name} {precision} on (time budget)'
                )
                return
            try:
                case = _Case(name, shape, dtype, device)
                comp = torch.compile(case.m, dynamic=False, backend=backend)
            except Exception as e:  # noqa: BLE001 (reported, not fatal)
                notes.append(f'torch.compile failed on {name} {precision}: {e}')
                continue
            for kind in FLOOR_PASSES:
                if kind not in row:  # that pass failed on the kernels: noted already
                    continue

                def measure(kind=kind, row=row[kind], case=case, comp=comp):
                    case.fn(kind, comp)()  # compile outside the timing
                    fns = {
                        'triton': _Triton(True, case.fn(kind, case.m)),
                        'compile': case.fn(kind, comp),
                    }
                    row['times']['compile'] = interleaved(fns, device, repeats)['compile']

                _guarded(measure, f'torch.compile: {name} {kind} {precision}', notes)
            del case, comp


def measure_models(
    repeats: int,
    deadline: float,
    notes: List[str],
    device: str = 'cuda',
    size: Optional[tuple] = None,
    amp: bool = True,
    rows: Optional[List[Dict]] = None,
) -> List[Dict]:
    """Training steps of :data:`MODELS` (under autocast float16 with ``amp``); ``size``:
    (input size, batch) instead of theirs. Peak memory is measured on CUDA only."""
    import torch

    from ela_mm.analysis.synthetic import num_classes, synthetic_batch
    from ela_mm.analysis.timing import interleaved
    from ela_mm.utils.config import build_model, config_path, load_config

    cuda = device == 'cuda'
    rows = [] if rows is None else rows
    for family, (plain_cfg, ela_cfg, hw, batch) in MODELS.items():
        hw, batch = size or (hw, batch)
        if time.time() > deadline:
            notes.append(f'models: {family} and after not measured (time budget)')
            break

        def measure(family=family, plain_cfg=plain_cfg, ela_cfg=ela_cfg, hw=hw, batch=batch):
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
                    peak[key] = torch.cuda.max_memory_allocated() - resident  # the step's own
            rows.append(
                dict(
                    model=family,
                    batch=batch,
                    times=interleaved(fns, device, max(5, repeats // 2) if cuda else repeats),
                    peak=peak,
                )
            )

        _guarded(measure, f'models: {family}', notes)
        if cuda:
            torch.cuda.empty_cache()
    return rows


#: the CUDA tests
CUDA_TESTS = osp.join(ROOT, 'tests', 'test_ops', 'test_cuda.py')


def run_tests(timeout: float, path: str = CUDA_TESTS, workers: int = 4) -> str:
    """Run the tests at ``path`` (in ``workers`` pytest-xdist processes where xdist is
    installed: the Triton kernels compile in parallel); after ``timeout`` seconds the whole
    process group is stopped and what it printed so far is reported."""
    import importlib.util
    import signal

    env = dict(os.environ, PYTHONUNBUFFERED='1')
    # compiled kernels; the PyTorch path of CUDA as users have it by default (the Triton
    # tests switch the kernels on themselves)
    for var in ('TRITON_INTERPRET', 'ELA_MM_TRITON'):
        env.pop(var, None)
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rfE', path]
    workers = min(workers, os.cpu_count() or 1)
    if workers > 1 and importlib.util.find_spec('xdist') is not None:
        cmd += ['-n', str(workers)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group: the xdist workers are stopped too
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = f'exit status {proc.returncode}'
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0]  # everything it printed (none of it is lost by the timeout)
        status = f'stopped after {timeout:.0f} s (budget)'
    tail = '\n'.join(out.strip().splitlines()[-40:])
    name = osp.relpath(path, ROOT) if path.startswith(ROOT) else path
    return f'`pytest {name}` ({status}):\n\n```\n{tail}\n```'


def _triton_version() -> str:
    try:
        import triton

        return triton.__version__
    except Exception as e:  # noqa: BLE001 (reported in the report's header)
        return f'unknown ({type(e).__name__})'


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
    start = STARTED
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

    def save() -> str:
        """The report as far as measured (written after every stage: a run stopped from
        outside keeps what it measured)."""
        res['launches'] = dict(sorted(tk.launches.items()))
        res['elapsed'] = time.time() - start
        text = render(res)
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(text)
        return text

    if args.smoke:
        res['tests'] = 'not run (`--smoke`)'
    elif not args.skip_tests:
        print('gpu_check: CUDA tests ...', flush=True)
        res['tests'] = run_tests(min(150, args.budget * 0.3))
        save()
    print('gpu_check: copy bandwidth, modules ...', flush=True)
    # the Triton and PyTorch columns first, then the models, torch.compile with what is left
    shapes = [SMOKE_SHAPE] if args.smoke else SHAPES
    res['copy_bw'] = copy_bandwidth(args.repeats, device, 2**20 if args.smoke else 2**28)
    res['modules'], res['models'] = [], []
    size = (SMOKE_HW, SMOKE_BATCH) if args.smoke else None
    compile_shape = SMOKE_SHAPE if args.smoke else COMPILE_SHAPE
    backend = 'eager' if args.smoke else 'inductor'
    status = 0
    try:
        mod_deadline = start + args.budget * 0.5
        measure_modules(
            res['copy_bw'], args.repeats, mod_deadline, notes, device, shapes, res['modules']
        )
        save()
        print('gpu_check: models ...', flush=True)
        # --smoke: float32 (float16 convolutions are slow on CPU)
        measure_models(
            args.repeats, start + args.budget * 0.8, notes, device, size, not args.smoke,
            res['models'],
        )  # fmt: skip
        save()
        print('gpu_check: torch.compile ...', flush=True)
        measure_compile(
            res['modules'], args.repeats, deadline - 15, notes, device, compile_shape, backend
        )
    except GpuUnusable as e:
        notes.append(f'**stopped: the GPU is unusable after a CUDA error** ({e})'[:600])
        status = 1
    if not tk.launches:
        notes.append(
            '**the Triton kernels never ran**: the Triton columns measured the path that runs '
            'without them (' + res['kernels'] + ')'
        )
    print(save())
    print(f'gpu_check: report written to {args.out}', flush=True)
    return status


if __name__ == '__main__':
    sys.exit(main())
