"""Collect a comparison grid (tools/run_grid.py) into a table, a CSV, a figure and metafiles.

    python tools/collect_grid.py GRID_DIR [--metric pascal_voc/mAP] [--out DIR] [--name NAME]
        [--no-cost] [--latency] [--update-metafiles] [--force] [--machine TEXT]
        [--save-records DEST]

Reads each run's final test metrics from the JSON mmengine writes
(``GRID_DIR/<config>/seed<k>/test/<timestamp>/<timestamp>.json``; never log text) and writes
``<out>/<name>.md``, ``<name>.csv`` and ``<name>.png`` (default out: GRID_DIR, name: comparison):
per attention, the metric's mean, standard deviation and n over seeds; its difference to the
plain model with a paired (seed-matched) 95% Student-t confidence interval; parameters, MACs and
elementwise ops at the config's test size (tools/analysis/get_model_flops.py); with
``--latency``, the batch-1 inference latency ratio to the plain model, measured here in one
interleaved run (tools/analysis/compare_models.py's method). Runs without metrics are listed
as unfinished. ``--update-metafiles`` writes the means into the metafiles of the configs that
were measured (with dataset, schedule and seeds); run ``tools/misc/metafile.py`` for the README
table afterwards.

Nothing measured is replaced without being asked: ``--update-metafiles`` refuses to replace a
published result by one measured with another schedule, fewer seeds, another data root or other
``--cfg-options``, and ``--out`` refuses to overwrite files under the project's ``docs/`` or
``configs/``; ``--force`` does both, after printing what changes. ``--save-records DEST``
copies the finished runs' records (no checkpoints; ``ela_mm.comparison.records``) under DEST,
refusing to replace different ones without ``--force``.
"""

import argparse
import csv
import json
import math
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: the metric a task reports first, in the order looked for in a run's metrics
PRIMARY_METRICS = ('pascal_voc/mAP', 'coco/bbox_mAP', 'mIoU', 'accuracy/top1')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('grid_dir', help='the folder tools/run_grid.py wrote')
    parser.add_argument('--metric', help=f'metric key (default: first of {PRIMARY_METRICS})')
    parser.add_argument('--out', help='output folder (default: GRID_DIR)')
    parser.add_argument('--name', default='comparison', help='output file name stem')
    parser.add_argument('--no-cost', action='store_true', help='skip parameters and MACs')
    parser.add_argument('--latency', action='store_true', help='measure latency ratios here')
    parser.add_argument('--repeats', type=int, default=10, help='--latency rounds')
    parser.add_argument(
        '--update-metafiles', action='store_true', help='write the measured rows into metafiles'
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace published results measured differently (another schedule, fewer seeds, '
        'another data root or options) and overwrite files under docs/ or configs/',
    )
    parser.add_argument('--machine', help='machine named in the outputs (default: detected)')
    parser.add_argument(
        '--save-records',
        metavar='DEST',
        help="copy the finished runs' records (grid.json, run.json, test metrics and logs; no "
        'checkpoints; portable paths) under DEST, e.g. docs/toy_comparison/runs/det',
    )
    parser.add_argument(
        '--root', default=ROOT, help='folder holding model-index.yml and configs/ (default: ours)'
    )
    return parser, parser.parse_args(argv)


def fmt(x: float, digits: int = 4) -> str:
    return '-' if x is None or (isinstance(x, float) and math.isnan(x)) else f'{x:.{digits}f}'


def mark_stale(rows, schedule) -> None:
    """``row['stale']``: why the config a row was measured with is not the config as it is now
    (``None`` when it is)."""
    from ela_mm.comparison.catalogue import expected_hash

    for r in rows:
        r['stale'] = None
        if r['entry'] is None:
            continue
        if not r['config_hash']:
            r['stale'] = 'no config hash recorded (run before run.json)'
        elif r['config_hash'] != expected_hash(r['entry'], schedule):
            r['stale'] = f'the config changed since the run (hash {r["config_hash"]})'


def collect(grid_dir: str, root: str, metric=None):
    """``(rows, metric, unfinished)``: one row per config with its per-seed values, plain first."""
    from ela_mm.comparison.catalogue import load_model_index, parse_config_name, row_rank
    from ela_mm.comparison.grid import find_runs, label
    from ela_mm.comparison.results import read_test_metrics
    from ela_mm.utils.record import read_run_record

    runs = find_runs(grid_dir)
    if not runs:
        raise SystemExit(
            f'collect_grid: no runs in {grid_dir!r}: expected <config>/seed<k>/ folders '
            f'(tools/run_grid.py)'
        )
    index = {m['Name']: m for m in load_model_index(root)}
    rows, unfinished = [], []
    for name, seeds in runs.items():
        values, raw = {}, {}
        for seed, work in sorted(seeds.items()):
            try:
                raw[seed] = read_test_metrics(osp.join(work, 'test'))
            except FileNotFoundError:
                unfinished.append(work)
        if not raw:
            continue
        if metric is None:
            first = next(iter(raw.values()))
            metric = next((k for k in PRIMARY_METRICS if k in first), None)
            if metric is None:
                raise SystemExit(
                    f'collect_grid: none of {PRIMARY_METRICS} in {sorted(first)}; pass --metric'
                )
        for seed, metrics in raw.items():
            if metric not in metrics:
                raise SystemExit(
                    f'collect_grid: {name} seed {seed} has no {metric!r} (it has '
                    f'{sorted(metrics)}); pass --metric'
                )
            values[seed] = float(metrics[metric])
        records = {seed: read_run_record(seeds[seed]) for seed in raw}
        hashes = {r.get('config_hash') for r in records.values()}
        if len(hashes) > 1:
            raise SystemExit(
                f'collect_grid: the seeds of {name} ran different configs (hashes '
                f'{sorted(map(str, hashes))}): re-run the older seeds (delete their folders and '
                f'run tools/run_grid.py again) so that one recipe is tabulated'
            )
        entry = index.get(name)
        if entry is not None:
            attention = entry['Metadata']['Attention']
        else:
            parsed = parse_config_name(name)
            attention = parsed.attention or 'none'
        rows.append(
            dict(
                name=name,
                attention=label(attention),
                values=values,
                entry=entry,
                config_hash=hashes.pop(),
                data=next(iter(records.values())).get('data'),
            )
        )
    rows.sort(key=lambda r: row_rank(r['attention']))
    return rows, metric, unfinished


def add_stats(rows) -> None:
    from ela_mm.comparison.stats import paired_difference, summarize

    plain = next((r for r in rows if r['attention'] == 'plain'), None)
    for r in rows:
        r['summary'] = summarize(r['values'])
        r['diff'] = (
            paired_difference(r['values'], plain['values'])
            if plain is not None and r is not plain
            else None
        )


def add_cost(rows, latency: bool, repeats: int) -> None:
    """Parameters/MACs of each measured config (built here), and latency ratios if asked."""
    from ela_mm.analysis.flops import model_cost
    from ela_mm.utils.config import load_config

    for r in rows:
        if r['entry'] is None:
            continue
        cfg = load_config(r['entry']['path'])
        r.update(model_cost(cfg))
    if latency:
        from ela_mm.analysis.synthetic import inference_fn, num_classes, synthetic_batch
        from ela_mm.analysis.timing import interleaved_samples, paired_ratio
        from ela_mm.utils.config import build_model, input_size

        fns = {}
        for r in rows:
            if r['entry'] is None:
                continue
            cfg = load_config(r['entry']['path'])
            model = build_model(cfg).eval()
            one = synthetic_batch(cfg.default_scope, 1, input_size(cfg), num_classes(cfg))
            fns[r['name']] = inference_fn(model, *one)
        samples = interleaved_samples(fns, 'cpu', repeats)
        plain = next((r for r in rows if r['attention'] == 'plain'), None)
        if plain is not None and plain['name'] in samples:
            for r in rows:
                if r['name'] in samples:
                    r['latency'] = paired_ratio(samples[r['name']], samples[plain['name']])


def table(rows, metric: str) -> str:
    plain = next((r for r in rows if r['attention'] == 'plain'), None)
    out = [
        f'| attention | {metric} mean | std | n | difference to plain (paired 95% CI) | '
        f'params (added) | MACs | elementwise ops | latency / plain | config |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        s, d = r['summary'], r['diff']
        diff = '-'
        if d is not None:
            ci = '' if math.isnan(d.low) else f' [{d.low:+.4f}, {d.high:+.4f}]'
            diff = f'{d.mean:+.4f}{ci} (n={d.n})'
        params = '-'
        if 'params' in r:
            params = f'{r["params"]:,}'
            if plain is not None and 'params' in plain and r is not plain:
                params += f' (+{r["params"] - plain["params"]:,})'
        macs = f'{r["macs"] / 1e9:.3f} G' if 'macs' in r else '-'
        elem = f'{r["elementwise"] / 1e6:.2f} M' if 'elementwise' in r else '-'
        lat = fmt(r.get('latency'), 3)
        name = r['name'] + (' (STALE: ' + r['stale'] + ')' if r.get('stale') else '')
        out.append(
            f'| {r["attention"]} | {fmt(s.mean)} | {fmt(s.std)} | {s.n} | {diff} | {params} | '
            f'{macs} | {elem} | {lat} | {name} |'
        )
    return '\n'.join(out)


def write_csv(path: str, rows, metric: str) -> None:
    fields = [
        'attention',
        'config',
        'metric',
        'mean',
        'std',
        'n',
        'seeds',
        'values',
        'diff_mean',
        'diff_ci_low',
        'diff_ci_high',
        'diff_n',
        'params',
        'macs',
        'elementwise',
        'latency_ratio',
    ]
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            s, d = r['summary'], r['diff']
            seeds = sorted(r['values'])
            w.writerow(
                dict(
                    attention=r['attention'],
                    config=r['name'],
                    metric=metric,
                    mean=repr(s.mean),
                    std='' if math.isnan(s.std) else repr(s.std),
                    n=s.n,
                    seeds=' '.join(map(str, seeds)),
                    values=' '.join(repr(r['values'][k]) for k in seeds),
                    diff_mean='' if d is None else repr(d.mean),
                    diff_ci_low='' if d is None or math.isnan(d.low) else repr(d.low),
                    diff_ci_high='' if d is None or math.isnan(d.high) else repr(d.high),
                    diff_n='' if d is None else d.n,
                    params=r.get('params', ''),
                    macs=r.get('macs', ''),
                    elementwise=r.get('elementwise', ''),
                    latency_ratio='' if r.get('latency') is None else repr(r['latency']),
                )
            )


def figure(path: str, rows, metric: str, title: str) -> None:
    """Metric against added parameters, one point per attention with its std as error bar
    (the paper's Figure 1 plots accuracy against parameters the same way)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    plain = next((r for r in rows if r['attention'] == 'plain'), None)
    have_params = plain is not None and all('params' in r for r in rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for r in rows:
        x = r['params'] - plain['params'] if have_params else rows.index(r)
        s = r['summary']
        err = 0 if math.isnan(s.std) else s.std
        colour = 'tab:red' if r['attention'].startswith('ELA') else 'tab:blue'
        if r['attention'] == 'plain':
            colour = 'black'
        ax.errorbar(x / 1e3 if have_params else x, s.mean, yerr=err, fmt='o', capsize=4, c=colour)
        ax.annotate(
            r['attention'],
            (x / 1e3 if have_params else x, s.mean),
            textcoords='offset points',
            xytext=(6, 4),
        )
    if plain is not None:
        ax.axhline(plain['summary'].mean, color='grey', lw=0.8, ls='--')
    ax.set_xlabel('parameters added to the plain model (K)' if have_params else 'model')
    ax.set_ylabel(f'{metric} (mean ± std over seeds)')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def protected_outputs(out: str, names, root: str) -> list:
    """The files of ``names`` in ``out`` that exist under the project's docs/ or configs/
    (the shipped pages and metafiles: not overwritten without --force)."""
    return [
        osp.join(out, n)
        for n in names
        if osp.isfile(osp.join(out, n))
        and any(
            osp.abspath(osp.join(out, n)).startswith(osp.join(osp.abspath(root), d) + os.sep)
            for d in ('docs', 'configs')
        )
    ]


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    import time

    from ela_mm.utils.cli import start

    start(parser, args)
    from ela_mm.analysis.report import machine as detect_machine

    grid_dir = osp.abspath(args.grid_dir)
    rows, metric, unfinished = collect(grid_dir, args.root, args.metric)
    if not rows:
        raise SystemExit(f'collect_grid: no finished runs in {grid_dir}; unfinished: {unfinished}')
    add_stats(rows)
    manifest = {}  # what run_grid recorded of the grid (grid.json)
    if osp.isfile(osp.join(grid_dir, 'grid.json')):
        with open(osp.join(grid_dir, 'grid.json')) as f:
            manifest = json.load(f)
    mark_stale(rows, manifest.get('schedule'))
    stale = [r for r in rows if r['stale']]
    if stale and args.update_metafiles:
        raise SystemExit(
            'collect_grid: not updating the metafiles: '
            + '; '.join(f'{r["name"]}: {r["stale"]}' for r in stale)
            + '. Re-run those configs (tools/run_grid.py) with the configs as they are now'
        )
    out = osp.abspath(args.out or grid_dir)
    names = [f'{args.name}.{ext}' for ext in ('md', 'csv', 'png')]
    refusals = []
    if args.update_metafiles:
        from ela_mm.comparison.catalogue import replaced_results

        replaced = replaced_results(rows, manifest, args.root)
        if replaced:
            refusals.append(
                '--update-metafiles would replace published results measured differently:\n  '
                + '\n  '.join(replaced)
            )
    protected = protected_outputs(out, names, args.root)
    if protected:
        refusals.append(
            f'--out {args.out} would overwrite shipped files: {", ".join(protected)} (write under '
            f'work_dirs/, e.g. the default: the grid folder)'
        )
    if refusals and not args.force:
        raise SystemExit(
            'collect_grid: nothing written.\n'
            + '\n'.join(refusals)
            + '\nRe-run with --force to replace them.'
        )
    for line in refusals:
        print(f'collect_grid --force: {line}', flush=True)
    if args.save_records:
        from ela_mm.comparison.records import save_records

        try:
            saved, others = save_records(grid_dir, args.save_records, force=args.force)
        except (FileExistsError, FileNotFoundError, ValueError) as e:
            raise SystemExit(f'collect_grid: {e}') from None
        print(f'records: {len(saved)} files under {args.save_records}', flush=True)
        if others:
            print(
                f'records: left in {args.save_records}, not records of this grid (remove them '
                f'if they are out of date): {", ".join(others)}',
                flush=True,
            )
    if not args.no_cost:
        add_cost(rows, args.latency, args.repeats)
    from ela_mm.comparison.grid import threads_text

    machine = args.machine or detect_machine('cpu', threads_text(manifest))
    date = time.strftime('%Y-%m-%d')
    seeds = sorted({s for r in rows for s in r['values']})
    entry = next((r['entry'] for r in rows if r['entry'] is not None), None)
    from ela_mm.comparison.catalogue import DATASETS, parse_config_name

    parsed = parse_config_name(rows[0]['name'])
    model = parsed.model if entry is None else entry['parsed'].model
    title = (
        f'{DATASETS.get(parsed.dataset, parsed.dataset)}: {model}, '
        f'seeds {", ".join(map(str, seeds))}'
        + (f', schedule {manifest["schedule"]}' if manifest.get('schedule') else '')
    )
    os.makedirs(out, exist_ok=True)
    text = table(rows, metric)
    md = osp.join(out, f'{args.name}.md')
    with open(md, 'w') as f:
        f.write(
            f'### {title}\n\n{machine}, {date}. Test metric `{metric}`; mean and sample '
            f'standard deviation over seeds; difference to plain: mean of the seed-matched '
            f'differences with its 95% Student-t interval.\n\n{text}\n'
        )
        if unfinished:
            f.write('\nUnfinished runs (no test metrics): ' + ', '.join(unfinished) + '\n')
    write_csv(osp.join(out, f'{args.name}.csv'), rows, metric)
    figure(osp.join(out, f'{args.name}.png'), rows, metric, title)
    print(text)
    for w in unfinished:
        print(f'unfinished (no test metrics): {w}')
    print(f'written: {md}, {args.name}.csv, {args.name}.png')
    if args.update_metafiles:
        from ela_mm.comparison.catalogue import record_results

        for p in record_results(rows, metric, manifest, machine, date, args.root):
            print(
                f'updated {osp.relpath(p, args.root)}; '
                'run tools/misc/metafile.py --zoo for docs/model_zoo.md'
            )
    return 0


if __name__ == '__main__':
    sys.exit(main())
