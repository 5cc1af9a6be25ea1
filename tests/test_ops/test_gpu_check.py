"""tools/analysis/gpu_check.py on a machine without a GPU: it refuses clearly before measuring
anything, its report writer and floor arithmetic work on fake timings, and ``--smoke`` runs
every measuring stage on CPU to the report."""

import importlib.util
import os
import os.path as osp
import subprocess
import sys
import time

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis', 'gpu_check.py')


@pytest.fixture(scope='module')
def gpu_check():
    spec = importlib.util.spec_from_file_location('gpu_check', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_refuses_without_a_gpu():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')  # no GPU, also on a machine with one
    out = subprocess.run(
        [sys.executable, TOOL, '--out', '/nonexistent/never.md'],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert 'gpu_check: no CUDA GPU here' in out.stderr and out.stdout == ''


def test_smoke_run_on_cpu(tmp_path):
    """Every stage but the CUDA tests, on CPU at the smallest sizes, to a complete report."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    for var in ('TRITON_INTERPRET', 'ELA_MM_TRITON'):
        env.pop(var, None)
    out = tmp_path / 'report.md'
    run = subprocess.run(
        [sys.executable, TOOL, '--smoke', '--repeats', '1', '--out', str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = out.read_text()
    assert text.startswith('# GPU check\n\n**Smoke run on CPU (`--smoke`)')
    assert 'on CPU (smoke run)' in text and 'not run (`--smoke`)' in text
    rows = [ln for ln in text.splitlines() if ln.startswith('| ') and ' | (2, 32, 9, 11) | ' in ln]
    # 5 modules x 2 precisions x 2 passes, every one timed on all three paths
    assert len(rows) == 20, rows
    for row in rows:
        cells = [c.strip() for c in row.split('|')[1:-1]]
        assert all(cells[i].endswith(' ms') for i in (4, 5, 7, 9)), row
    for model in ('YOLOX-Nano', 'ResNet-50', 'DeepLabV3'):
        row = next(ln for ln in text.splitlines() if ln.startswith(f'| {model} | 2 |'))
        assert row.count(' ms |') == 3 and row.endswith('| n/a | n/a | n/a |'), row
    assert '## Training steps (float32, `--smoke`)' in text
    # no interpreter, no GPU: the Triton columns were the CPU path, and the report says so
    assert 'Triton kernel launches: none.' in text and 'the Triton kernels never ran' in text


HANGING_TESTS = """
import os, subprocess, sys, time
def test_quick():
    pass
def test_hangs():  # and a process of its own, as a test may start
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
    with open(os.environ['PIDS'], 'a') as f:
        f.write(f'{os.getpid()} {child.pid}\\n')
    time.sleep(300)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: signal 0 tells whether it exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_tests_stage_stops_at_its_budget(gpu_check, tmp_path, monkeypatch):
    """A CUDA-tests stage over its budget is stopped with every process it started (xdist
    workers, their children), and the report says so with what it printed."""
    path, pids = tmp_path / 'test_hang.py', tmp_path / 'pids'
    path.write_text(HANGING_TESTS)
    monkeypatch.setenv('PIDS', str(pids))
    report = gpu_check.run_tests(15, str(path), workers=2)
    assert report.startswith(f'`pytest {path}` (stopped after 15 s (budget)):'), report
    assert pids.exists(), report  # the hanging test ran
    for pid in map(int, pids.read_text().split()):
        for _ in range(100):  # SIGKILL is delivered at once; the exit may take a moment
            if not _running(pid):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f'the test process {pid} was not stopped')


def test_a_failing_case_is_noted_and_the_run_goes_on(gpu_check, monkeypatch):
    """An error in one case (here a config that does not exist, on the GPU an out-of-memory
    error) is a note of the report, and the next case is measured."""
    monkeypatch.setattr(
        gpu_check,
        'MODELS',
        {
            'Broken': ('no/such_config.py', 'no/such_config.py', (32, 32), 1),
            'ResNet-50': gpu_check.MODELS['ResNet-50'],
        },
    )
    notes = []
    rows = gpu_check.measure_models(1, time.time() + 300, notes, 'cpu', ((32, 32), 2), False)
    assert [r['model'] for r in rows] == ['ResNet-50'], notes
    assert len(notes) == 1 and notes[0].startswith('models: Broken: not measured ('), notes


def test_a_cuda_error_stops_the_run(gpu_check):
    """A CUDA error leaves the context unusable: noted, then the run stops (the report is
    written with what was measured); any other error only skips its case."""
    notes = []

    def illegal():
        raise RuntimeError('CUDA error: an illegal memory access was encountered')

    with pytest.raises(gpu_check.GpuUnusable, match='modules: ELA-B: CUDA error'):
        gpu_check._guarded(illegal, 'modules: ELA-B', notes)
    gpu_check._guarded(lambda: [][1], 'modules: SE', notes)
    assert [n.split(' (')[0] for n in notes] == [
        'modules: ELA-B: not measured',
        'modules: SE: not measured',
    ]


def test_refusal_reasons(gpu_check):
    assert 'no CUDA GPU' in gpu_check.refusal(cuda=False, triton=True)
    assert 'triton is not installed' in gpu_check.refusal(cuda=True, triton=False)
    assert gpu_check.refusal(cuda=True, triton=True) is None


def test_floor(gpu_check):
    # ELA forward on 16 x 256 x 56 x 56 float16 at 4 TB/s: 3 passes of 25.7 MB
    t = gpu_check.floor_seconds(3, 16 * 256 * 56 * 56, 2, 4e12)
    assert t == pytest.approx(3 * 16 * 256 * 56 * 56 * 2 / 4e12)


def test_report_on_fake_timings(gpu_check):
    ms = 1e-3
    res = dict(
        date='2026-01-01',
        device='Fake GPU',
        torch='2.x',
        triton='3.x',
        elapsed=123.0,
        kernels='ela_mm kernels: pure PyTorch; CUDA: Triton kernels (ELA_MM_TRITON=1, triton 3.x)',
        tests='`pytest tests/test_ops/test_cuda.py` (exit status 0): 131 passed',
        copy_bw=4e12,
        notes=['models: DeepLabV3 and after not measured (time budget)'],
        modules=[
            dict(
                module='ELA-B',
                shape='(16, 256, 56, 56)',
                precision='fp32',
                floor=1.0 * ms,
                times=dict(triton=1.2 * ms, pytorch=2.4 * ms, compile=1.5 * ms),
                **{'pass': 'fwd'},
            ),
            dict(
                module='ELA-B',
                shape='(16, 256, 56, 56)',
                precision='fp32',
                floor=2.0 * ms,
                times=dict(triton=3.0 * ms, pytorch=6.0 * ms),
                **{'pass': 'fwd+bwd'},
            ),
            dict(
                module='SE',
                shape='(16, 256, 56, 56)',
                precision='AMP fp16',
                floor=0.5 * ms,
                times=dict(triton=0.6 * ms, pytorch=0.9 * ms),
                **{'pass': 'fwd'},
            ),
        ],  # fmt: skip
        models=[
            dict(
                model='ResNet-50',
                batch=64,
                times=dict(plain=100 * ms, triton=102 * ms, pytorch=110 * ms),
                peak=dict(plain=2**30, triton=2**30 + 2**20, pytorch=None),
            ),
        ],  # fmt: skip
    )
    text = gpu_check.render(res)
    lines = text.splitlines()
    assert 'Measured 2026-01-01 on Fake GPU' in text and '**4000 GB/s**' in text
    assert '131 passed' in text and 'DeepLabV3 and after not measured' in text
    row = next(ln for ln in lines if ln.startswith('| ELA-B | (16, 256, 56, 56) | fp32 | fwd |'))
    cells = [c.strip() for c in row.split('|')[1:-1]]
    # floor, Triton, /floor, PyTorch, /floor, compile, /floor, Triton/PyTorch, Triton/compile
    assert cells[4:] == ['1.000 ms', '1.200 ms', '1.20', '2.400 ms', '2.40', '1.500 ms', '1.50',
                         '0.50', '0.80']  # fmt: skip
    row = next(ln for ln in lines if '| fwd+bwd |' in ln)
    assert '| not measured | n/a |' in row  # no compile time
    assert '| ELA-B fwd / floor, (16, 256, 56, 56) fp32 | 1.200 | <= 1.25 | yes |' in text
    assert '| ELA-B fwd+bwd / floor, (16, 256, 56, 56) fp32 | 1.500 | <= 1.25 | **no** |' in text
    assert not any(ln.startswith('| SE ') and 'floor,' in ln for ln in lines)  # ELA targets only
    assert '| ResNet-50 + ELA step / plain | 1.020 | <= 1.03 | yes |' in text
    row = next(ln for ln in lines if ln.startswith('| ResNet-50 | 64 |'))
    assert '| 1.02 |' in row and '| 1.10 |' in row and '| 1024 MiB | 1025 MiB | n/a |' in row
