"""Build every shipped config, measure its parameters, and write the metafiles and the model zoo.

    python tools/misc/metafile.py            # print the table of every config (builds each)
    python tools/misc/metafile.py --write    # also (re)write configs/*/metafile.yml and the zoo
    python tools/misc/metafile.py --zoo      # only docs/model_zoo.md, from the metafiles (fast)

The parameter counts in the metafiles come from here and are checked against the built models by
tests/test_configs.py. A model's ``Results`` stay "not yet trained" until
``tools/collect_grid.py --update-metafiles`` writes measured numbers there; ``--write`` keeps
those (and their ``Status: measured``). ``docs/model_zoo.md`` is generated from the metafiles
alone (no model is built): one section per config family, the toy rows in their own section,
and each row's status (:func:`ela_mm.utils.model_index.result_status`: a result whose config
changed since it was measured is shown as STALE, never with its old number);
tests/test_docs.py fails when the page and the metafiles disagree.
"""

import argparse
import glob
import os.path as osp
import sys
from collections import defaultdict

import yaml


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--write', action='store_true', help='write the metafiles and docs/model_zoo.md'
    )
    parser.add_argument(
        '--zoo',
        action='store_true',
        help='write only docs/model_zoo.md, from the metafiles (no model is built)',
    )
    args = parser.parse_args()
    return parser, args


if __name__ == '__main__':
    parse_args()  # before the heavy imports: -h and bad options answer at once

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for cli_args
import cli_args  # noqa: E402,F401  (filters the known upstream notices before mmengine is imported)

from ela_mm.utils.config import build_model, count_params, load_config  # noqa: E402
from ela_mm.utils.model_index import (  # noqa: E402
    ATTENTION_SUFFIXES,
    DATASETS,
    attention_label,
    load_model_index,
    parse_config_name,
    result_status,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZOO = osp.join('docs', 'model_zoo.md')
FAMILIES = {
    'yolox': ('Object Detection', 'YOLOX'),
    'faster_rcnn': ('Object Detection', 'Faster R-CNN'),
    'rtmdet': ('Object Detection', 'RTMDet'),
    'deeplabv3': ('Semantic Segmentation', 'DeepLabV3'),
    'resnet': ('Image Classification', 'ResNet'),
    'mobilenet_v2': ('Image Classification', 'MobileNetV2'),
    'toy': ('toy task (generated data)', 'Toy'),
}
#: the model part of a config name -> its name in tables
MODEL_NAMES = {
    'yolox_nano': 'YOLOX-Nano',
    'rtmdet_tiny': 'RTMDet-tiny',
    'faster-rcnn_r50_fpn': 'Faster R-CNN R50-FPN',
    'deeplabv3_r50-d8': 'DeepLabV3 R50-D8',
    'deeplabv3_r101-d8': 'DeepLabV3 R101-D8',
    'deeplabv3_m-v2-d8': 'DeepLabV3 MobileNetV2-D8',
    'deeplabv3_r50-d8-w16': 'DeepLabV3 R50-D8, 1/4 width',
    'resnet18': 'ResNet-18',
    'resnet50': 'ResNet-50',
    'mobilenet-v2': 'MobileNetV2',
}
SCOPES = {
    'mmdet': ('Object Detection', 'YOLOX'),
    'mmseg': ('Semantic Segmentation', 'DeepLabV3'),
    'mmpretrain': ('Image Classification', 'ResNet'),
}


def attention_of(backbone: dict) -> str:
    cfgs = [p['cfg'] for p in backbone.get('plugins') or []]
    if backbone.get('type') == 'WithAttention':  # [dict(cfg=..., after=...), ...]
        cfgs += [a['cfg'] for a in backbone['attention']]
    elif backbone.get('attention'):  # AttnResNet / AttnMobileNetV2
        cfgs.append(backbone['attention'])
    return attention_label(cfgs)


def collect():
    measured = measured_results()
    rows = []
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))):
        family = osp.basename(osp.dirname(path))
        if family not in FAMILIES:
            continue
        cfg = load_config(path)
        name = osp.splitext(osp.basename(path))[0]
        parsed = parse_config_name(name)
        dataset = DATASETS[parsed.dataset]
        task, model = SCOPES[cfg.default_scope] if family == 'toy' else FAMILIES[family]
        model = MODEL_NAMES.get(parsed.model, model)
        rows.append(
            dict(
                family=family,
                name=name,
                dataset=dataset,
                task=task,
                model=model,
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


def measured_results() -> dict:
    """``{config name: Results}`` of the models the metafiles mark as measured, each result
    with its ``status`` (:func:`ela_mm.utils.model_index.result_status`) added."""
    out = {}
    for entry in load_model_index(ROOT):
        if entry['Metadata'].get('Status') == 'measured':
            status = result_status(entry)
            out[entry['Name']] = [dict(entry['Results'][0], status=status)]
            out[entry['Name']] += entry['Results'][1:]
    return out


def results_text(results) -> str:
    """'mAP 0.812 ± 0.010 (toy VOC (generated), 24e, seeds 0-2)' for a measured model; a
    result whose config has changed since is marked STALE and says why."""
    if not results:
        return 'not yet trained'
    r = results[0]
    status = r.get('status', 'current')
    if status != 'current':
        return f'STALE ({status.partition(": ")[2]}; earlier result not shown)'
    metrics = {k: v for k, v in r['Metrics'].items() if not k.endswith(' std')}
    parts = []
    for k, v in metrics.items():
        std = r['Metrics'].get(f'{k} std')
        parts.append(f'{k} {v:.4g}' + (f' ± {std:.2g}' if std is not None else ''))
    t = r.get('Training', {})
    seeds = t.get('Seeds', [])
    return (
        f'{", ".join(parts)} (n={len(seeds)} seeds, {t.get("Schedule", "")}, {t.get("Date", "")})'
    )


def write_metafiles(rows) -> None:
    by_family = defaultdict(list)
    for r in rows:
        by_family[r['family']].append(r)
    for family, items in by_family.items():
        collection = FAMILIES[family][1]
        meta = dict(
            Collections=[
                dict(
                    Name=f'{collection} + attention',
                    Metadata=dict(Architecture=[collection, 'ELA', 'SE', 'ECA', 'CA', 'CBAM']),
                    Paper=dict(
                        Title='ELA: Efficient Local Attention for Deep Convolutional '
                        'Neural Networks',
                        URL='https://arxiv.org/abs/2403.01123',
                    ),
                )
            ],
            Models=[
                dict(
                    Name=r['name'],
                    In_Collection=f'{collection} + attention',
                    Config=r['config'],
                    Metadata=dict(
                        Parameters=r['params'],
                        Attention=r['attention'],
                        Training_Data=r['dataset'],
                        Status='measured' if r['results'] else 'not yet trained',
                    ),
                    Results=[
                        {k: v for k, v in res.items() if k != 'status'} for res in r['results']
                    ]
                    if r['results']
                    else [dict(Task=r['task'], Dataset=r['dataset'], Metrics={})],
                )
                for r in items
            ],
        )
        text = yaml.safe_dump(meta, sort_keys=False).replace('In_Collection', 'In Collection')
        text = text.replace('Training_Data', 'Training Data')
        with open(osp.join(ROOT, 'configs', family, 'metafile.yml'), 'w') as f:
            f.write('# Generated by tools/misc/metafile.py --write; parameters are measured.\n')
            f.write(text)
    with open(osp.join(ROOT, 'model-index.yml'), 'w') as f:
        f.write(
            yaml.safe_dump(
                dict(Import=[f'configs/{fam}/metafile.yml' for fam in sorted(by_family)])
            )
        )


def table(rows) -> str:
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


#: the order of rows within a model: plain first, then as ATTENTION_SUFFIXES lists them
ZOO_ORDER = ['none', *ATTENTION_SUFFIXES.values()]
ZOO_HEADER = """# Model zoo

<!-- Generated by `python tools/misc/metafile.py --zoo` from the metafiles (model-index.yml);
do not edit by hand: tests/test_docs.py fails when this page and the metafiles disagree. -->

Every shipped config, by family, with its parameter count (measured by building the model,
`tools/misc/metafile.py --write`) and the status of its result.{real} The toy
rows (generated data, minutes on a CPU) are in their own section at the end; a toy result is
shown only while it is *current*: a row whose config (or a file it inherits) changed since it
was measured, that predates the config hashes of `run.json`, or that was measured on an earlier
version of the toy data is shown as **STALE** without its number
(`ela_mm.utils.model_index.result_status`). The measured toy comparison, with its commands,
machine and date, is [toy_comparison.md](toy_comparison.md).

The result column is `not yet trained` (no result), the measured mean ± standard deviation over
seeds with schedule and date (a current result: it belongs to the config as it is now), or
`STALE (why)` (re-measure with [the comparison grid](user_guides/comparison_grid.md)).
How to switch the ELA variant of a row and how the families are built:
[configs](user_guides/configs.md).
"""


def zoo_rows(root: str = ROOT) -> list:
    """One dict per model of the model index, as the zoo page shows it (no model is built)."""
    rows = []
    for e in load_model_index(root):
        parsed = e['parsed']
        res = e['Results'] if e['Metadata'].get('Status') == 'measured' else None
        status = result_status(e)
        if res:
            res = [dict(res[0], status=status)] + res[1:]
        rows.append(
            dict(
                family=e['family'],
                name=e['Name'],
                config=e['Config'],
                task=e['Results'][0].get('Task', ''),
                dataset=e['Metadata'].get('Training Data', DATASETS[parsed.dataset]),
                model=MODEL_NAMES.get(parsed.model, parsed.model),
                attention=e['Metadata']['Attention'],
                params=e['Metadata']['Parameters'],
                recipe=parsed.baseline,
                results=res,
            )
        )
    order = {fam: i for i, fam in enumerate(FAMILIES)}
    rows.sort(
        key=lambda r: (
            order.get(r['family'], len(order)),
            r['task'],
            r['dataset'],
            r['model'],
            r['recipe'],
            ZOO_ORDER.index(r['attention']) if r['attention'] in ZOO_ORDER else len(ZOO_ORDER),
            r['name'],
        )
    )
    return rows


def zoo_page(root: str = ROOT) -> str:
    """The text of docs/model_zoo.md for the metafiles under ``root``."""
    by_family = defaultdict(list)
    for r in zoo_rows(root):
        by_family[r['family']].append(r)
    real = [r for r in by_family.values() for r in r if r['family'] != 'toy']
    untrained = not any(r['results'] for r in real)
    out = [
        ZOO_HEADER.format(
            real='\n**No model has been trained on the real datasets by this project yet**: '
            'every real row reads\n*not yet trained*.'
            if untrained
            else ''
        )
    ]
    for family, rows in by_family.items():
        task, collection = FAMILIES.get(family, ('', family))
        toy = family == 'toy'
        if toy:
            out.append('## Toy rows (generated data)\n')
            out.append(
                'The real config of each family with only data, input size and schedule '
                'changed (configs/toy/); trained and tested by `make demo`, `make demo-seg`, '
                '`make demo-cls` and the toy comparison.\n'
            )
        else:
            out.append(f'## {collection} ({task})\n')
        out.append(
            f'| {"task | " if toy else ""}dataset | model | attention | params | result | config |'
        )
        out.append('|---' * (7 if toy else 6) + '|')
        for r in rows:
            out.append(
                f'| {r["task"] + " | " if toy else ""}{r["dataset"]} | {r["model"]} | '
                f'{r["attention"]} | {r["params"]:,} | {results_text(r["results"])} | '
                f'[{r["name"]}](../{r["config"]}) |'
            )
        out.append('')
    return '\n'.join(out)


def write_zoo(root: str = ROOT) -> str:
    path = osp.join(root, ZOO)
    with open(path, 'w') as f:
        f.write(zoo_page(root))
    return path


def main() -> int:
    parser, args = parse_args()
    if args.zoo:
        print(f'written: {osp.relpath(write_zoo(), ROOT)}')
        return 0
    rows = collect()
    if args.write:
        write_metafiles(rows)
        print(f'written: {osp.relpath(write_zoo(), ROOT)}', file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
