"""Reporting: the machine a number was measured on, and Markdown sections written into docs."""

import os
import platform
import sys
from datetime import date
from typing import Optional

import torch


def machine(device: str, threads: Optional[str] = None) -> str:
    """The device in words; on CPU the processor, its cores and ``threads`` (default: this
    process's torch threads)."""
    if device == 'cuda':
        return f'{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})'
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        pass
    threads = threads or f'{torch.get_num_threads()} torch threads'
    return f'{cpu}, {os.cpu_count()} cores, {threads}'


def write_section(path: str, key: str, text: str) -> None:
    """Put ``text`` into the Markdown file between ``<!-- key:start -->`` and
    ``<!-- key:end -->`` (appended the first time), leaving the rest of the file alone."""
    start, end = f'<!-- {key}:start -->', f'<!-- {key}:end -->'
    old = open(path).read() if os.path.exists(path) else '# Benchmarks\n'
    block = f'{start}\n{text}\n{end}'
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip('\n') + '\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(new)


def report(path: str, key: str, title: str, device: str, repeats: int, text: str) -> None:
    """Write a result table into ``path`` under ``title``, with the command line that produced
    it, the machine, torch version and date."""
    cmd = 'python ' + ' '.join(sys.argv)
    write_section(
        path,
        key,
        (
            f'### {title}\n\nMeasured {date.today()} on {machine(device)}, torch '
            f'{torch.__version__}, {repeats} interleaved rounds (times: medians; ratios: medians '
            f'of the per-round ratios), by\n\n```\n{cmd}\n```'
            f'\n\n{text}'
        ),
    )
