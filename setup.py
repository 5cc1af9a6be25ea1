"""ela_mm: Efficient Local Attention for OpenMMLab 2.x.

Builds one small C++ extension, ``ela_mm._ext`` (fused strip pooling and gating on CPU), against
the installed torch, as mmcv does. Install with ``pip install --no-build-isolation -e .`` so that
the build sees that torch. ``ELA_MM_WITH_EXT=0`` skips the extension; ela_mm then runs its pure
PyTorch path (same results, slower, see docs/benchmarks.md).
"""

import glob
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'ela_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def cpu_flags() -> list:
    """The extension is compiled where it is installed (like mmcv's ops), so it may use the
    vector units of this CPU: AVX2/FMA when /proc/cpuinfo lists them. ELA_MM_CPU_FLAGS overrides
    (e.g. ELA_MM_CPU_FLAGS='' for a build shared by older CPUs)."""
    if 'ELA_MM_CPU_FLAGS' in os.environ:
        return os.environ['ELA_MM_CPU_FLAGS'].split()
    try:
        with open('/proc/cpuinfo') as f:
            flags = next(
                (line.split(':', 1)[1].split() for line in f if line.startswith('flags')), []
            )
    except OSError:
        return []
    return ['-mavx2', '-mfma'] if {'avx2', 'fma'} <= set(flags) else []


def requirements(name: str) -> list:
    """The requirement lines of ``requirements/<name>.txt`` (comments dropped)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'requirements', f'{name}.txt')
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def add_mim_extension() -> None:
    """Ship configs/, tools/ and model-index.yml inside the package, under ela_mm/.mim, as
    OpenMMLab's own packages do (so `mim` and path look-ups find them in an installation):
    copied for sdists and wheels, symlinked for editable installs."""
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'build_py', 'install')):
        mode = 'copy'
    else:
        return
    root = osp.dirname(osp.abspath(__file__))
    mim = osp.join(root, 'ela_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src, dst = osp.join(root, name), osp.join(mim, name)
        if not osp.exists(src):  # building from an sdist: .mim is already filled
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def extensions():
    if os.environ.get('ELA_MM_WITH_EXT', '1') == '0':
        return [], {}
    try:
        import torch
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError as e:
        raise RuntimeError(
            'ela_mm builds a C++ extension against the installed torch, and this build sees '
            'no torch: pip builds in an isolated environment unless told not to. Install torch '
            'first, then run `pip install --no-build-isolation .` (or -e .), or set '
            'ELA_MM_WITH_EXT=0 to skip the extension'
        ) from e
    if 'pip-build-env' in torch.__file__:
        raise RuntimeError(
            f'ela_mm: pip is building in an isolated environment with its own torch '
            f'{torch.__version__} ({osp.dirname(torch.__file__)}); the extension would be '
            f'compiled against that torch and fail to load with yours. Run pip with '
            f'--no-build-isolation (or set ELA_MM_WITH_EXT=0 to skip the extension)'
        )
    ext = CppExtension(
        'ela_mm._ext',
        sorted(glob.glob('ela_mm/ops/csrc/*.cpp')),
        extra_compile_args=['-O3', '-fopenmp'] + cpu_flags(),
        extra_link_args=['-fopenmp'],
    )
    return [ext], {'build_ext': BuildExtension}


add_mim_extension()
ext_modules, cmdclass = extensions()

setup(
    name='ela_mm',
    version=read_version(),
    description='Efficient Local Attention (ELA) for OpenMMLab 2.x: mmcv plugin layers, '
    'backbones, configs and tools for mmdet, mmsegmentation and mmpretrain',
    long_description=open('README.md', encoding='utf-8').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['ela_mm', 'ela_mm.*']),
    package_data={
        'ela_mm': [
            'ops/csrc/*.cpp',
            'ops/csrc/*.h',
            '.mim/model-index.yml',
            '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml',
            '.mim/tools/**/*.py',
            '.mim/tools/**/*.sh',
        ]
    },
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.0.0,<3.4.0',
        'mmsegmentation>=1.0.0,<1.3.0',
        'mmpretrain>=1.0.0,<1.3.0',
        'ftfy',
        'regex',
    ],
    extras_require={
        # the exact versions tested (tools/setup_env.sh); '===' (arbitrary equality, which
        # keeps pip off a local '+cpu' torch wheel) as '==': pip's metadata parser refuses it
        'stack': [r.replace('===', '==') for r in requirements('stack')],
        'tests': requirements('tests'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
