"""Build every shipped config, measure its parameters, and write the metafiles and the model zoo.

    python tools/misc/metafile.py            # print the table of every config (builds each)
    python tools/misc/metafile.py --write    # also (re)write configs/*/metafile.yml and the zoo
    python tools/misc/metafile.py --zoo      # only docs/model_zoo.md, from the metafiles (fast)

The parameter counts in the metafiles come from here and are checked against the built models by
tests/test_configs.py. A model's ``Results`` stay "not yet trained" until
``tools/collect_grid.py --update-metafiles`` writes measured numbers there; ``--write`` keeps
those (and their ``Status: measured``). ``docs/model_zoo.md`` is generated from the metafiles
alone (no model is built): one section per config family, the toy rows in their own section,
and each row's status (:func:`ela_mm.comparison.catalogue.result_status`: a result whose config
changed since it was measured is shown as STALE, never with its old number);
tests/test_docs.py fails when the page and the metafiles disagree.
"""

import argparse
import glob
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--write', action='store_true', help='write the metafiles and docs/model_zoo.md'
    )
    parser.add_argument(
        '--zoo',
        action='store_true',
        help='write only docs/model_zoo.md, from the metafiles (no model is built)',
    )
    return parser, parser.parse_args(argv)


ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def collect():
    """One row per shipped config: its family, names, parameters (built here) and the
    results the metafiles already hold."""
    from ela_mm.comparison.catalogue import (
        DATASETS,
        FAMILIES,
        MODEL_NAMES,
        SCOPE_TASKS,
        attention_of,
        family_of,
        measured_results,
        parse_config_name,
    )
    from ela_mm.utils.config import build_model, count_params, load_config

    measured = measured_results(ROOT)
    folders = {f.folder for f in FAMILIES.values()}
    rows = []
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))):
        folder = osp.basename(osp.dirname(path))
        if folder not in folders:
            continue
        cfg = load_config(path)
        name = osp.splitext(osp.basename(path))[0]
        parsed = parse_config_name(name)
        fam = family_of(folder, name)
        rows.append(
            dict(
                family=folder,
                name=name,
                dataset=DATASETS[parsed.dataset],
                task=SCOPE_TASKS[cfg.default_scope] if folder == 'toy' else fam.task,
                model=MODEL_NAMES.get(parsed.model, fam.collection),
                config=osp.relpath(path, ROOT),
                attention=attention_of(cfg.model.backbone),
                named=parsed.attention or 'none',
                params=count_params(build_model(cfg)),
                results=measured.get(name),
            )
        )
        if rows[-1]['attention'] != rows[-1]['named']:
            raise ValueError(
                f'{name}: the name says attention {rows[-1]["named"]}, the model '
                f'builds {rows[-1]["attention"]}'
            )
        print(f'built {name}: {rows[-1]["params"]}', file=sys.stderr)
    return rows


def table(rows) -> str:
    from ela_mm.comparison.catalogue import results_text

    out = [
        '| task | dataset | model | attention | params | results | config |',
        '|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        out.append(
            f'| {r["task"]} | {r["dataset"]} | {r["model"]} | {r["attention"]} | '
            f'{r["params"]:,} | {results_text(r["results"])} | [{r["name"]}]({r["config"]}) |'
        )
    return '\n'.join(out)


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    from ela_mm.comparison.catalogue import write_metafiles, write_zoo

    if args.zoo:
        print(f'written: {osp.relpath(write_zoo(ROOT), ROOT)}')
        return 0
    rows = collect()
    if args.write:
        write_metafiles(rows, ROOT)
        print(f'written: {osp.relpath(write_zoo(ROOT), ROOT)}', file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
