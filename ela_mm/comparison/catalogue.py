"""The catalogue of the shipped configs: names, families, the model index, the metafiles, and
whether a published result is current. Every tool and test reads and writes it through here.

Config names follow OpenMMLab's convention, with the attention as a suffix of the model part::

    {model}[-{attention}]_{gpus}x{batch}[-{schedule}]_{dataset}[-{input size}]
    yolox_nano-ela-t_8xb8-300e_voc0712      deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512
    resnet50-se_8xb32_in1k                   mobilenet-v2_8xb32_in1k (the plain baseline)

* the grammar: :func:`parse_config_name` (the one parser), :data:`DATASETS`,
  :data:`ATTENTION_SUFFIXES`, :func:`attention_label` / :func:`attention_of` (what a model
  really builds);
* the families: :data:`FAMILIES` (the one table: config folder, task, collection, plain
  baseline, the input the cost tools measure at), :data:`ROW_ORDER` (plain, then ELA-T/B/S/L,
  SE, ECA, CA, CBAM: every table of the project);
* the model index: :func:`load_model_index`, :func:`comparison_rows`;
* the metafiles: :func:`write_metafiles` (``tools/misc/metafile.py --write``),
  :func:`record_results` and :func:`replaced_results` (``tools/collect_grid.py
  --update-metafiles``), :func:`measured_results`;
* staleness: a measured result records what it was measured with (``Config hash``:
  :func:`config_hash` of the config as it ran; ``Data``: the toy set's stamp where the data is
  generated); :func:`result_status` compares that with the config as it is now, so that a result
  of an earlier recipe is never shown as current (:func:`results_text`);
* the model-zoo page: :func:`zoo_page` (``docs/model_zoo.md``).
"""

import math
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import yaml

# what a run records of itself; part of the catalogue's API too
from ela_mm.utils.record import RUN_ONLY_KEYS, config_hash, data_stamp  # noqa: F401

#: dataset part of a config name -> the dataset's name in metafiles and tables
DATASETS: Dict[str, str] = {
    'coco': 'COCO',
    'voc0712': 'Pascal VOC 07+12',
    'voc12aug': 'Pascal VOC 2012 aug',
    'in1k': 'ImageNet-1k',
    'toyvoc': 'toy VOC (generated)',
    'toycls': 'toy object crops (generated)',
}
#: attention suffix of a config name -> its label in metafiles and tables
ATTENTION_SUFFIXES: Dict[str, str] = {
    'ela-t': 'ELA-T',
    'ela-b': 'ELA-B',
    'ela-s': 'ELA-S',
    'ela-l': 'ELA-L',
    'se': 'SE',
    'eca': 'ECA',
    'ca': 'CA',
    'cbam': 'CBAM',
}
#: registered type -> label (``{variant}``: the ELA variant)
ATTENTION_LABELS: Dict[str, str] = {
    'ELA': 'ELA-{variant}',
    'SE': 'SE',
    'ECA': 'ECA',
    'CoordAtt': 'CA',
    'CBAM': 'CBAM',
}

#: the order of rows within a family in every table: plain first, then as
#: :data:`ATTENTION_SUFFIXES` lists them ('none' is how the metafiles write the plain row)
ROW_ORDER: List[str] = ['none', *ATTENTION_SUFFIXES.values()]


def row_rank(attention: Optional[str]) -> int:
    """Position of an attention label ('none', 'plain' or None for the plain model) in
    :data:`ROW_ORDER`; unknown labels last."""
    a = 'none' if attention in (None, 'plain') else attention
    return ROW_ORDER.index(a) if a in ROW_ORDER else len(ROW_ORDER)


class Family(NamedTuple):
    """One comparison family: a plain baseline config and its attention rows."""

    folder: str  # configs/<folder>: the metafile it is written in
    task: str  # the metafiles' Task
    collection: str  # the metafiles' Collection, the model zoo's section
    baseline: str  # the plain config (its name): the family's rows are its recipe + attention
    size: Optional[Tuple[int, int]] = None  # (H, W) the cost tools measure at; None: the config's


#: the one family table: the name tools take (``compare_models.py deeplabv3``,
#: ``bench_memory.py --families ...``) -> :class:`Family`; folder order is the zoo's section
#: order
FAMILIES: Dict[str, Family] = {
    'yolox': Family('yolox', 'Object Detection', 'YOLOX', 'yolox_nano_8xb8-300e_voc0712'),
    'yolox-coco': Family('yolox', 'Object Detection', 'YOLOX', 'yolox_nano_8xb8-300e_coco'),
    'faster-rcnn': Family(
        'faster_rcnn',
        'Object Detection',
        'Faster R-CNN',
        'faster-rcnn_r50_fpn_8xb2-1x_coco',
        (320, 320),
    ),
    'rtmdet': Family(
        'rtmdet', 'Object Detection', 'RTMDet', 'rtmdet_tiny_8xb32-300e_coco', (320, 320)
    ),
    'deeplabv3': Family(
        'deeplabv3',
        'Semantic Segmentation',
        'DeepLabV3',
        'deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512',
        (256, 256),
    ),
    'deeplabv3-mv2': Family(
        'deeplabv3',
        'Semantic Segmentation',
        'DeepLabV3',
        'deeplabv3_m-v2-d8_4xb4-20k_voc12aug-512x512',
        (256, 256),
    ),
    'resnet50': Family('resnet', 'Image Classification', 'ResNet', 'resnet50_8xb32_in1k'),
    'mobilenet-v2': Family(
        'mobilenet_v2', 'Image Classification', 'MobileNetV2', 'mobilenet-v2_8xb32_in1k'
    ),
    'toy-det': Family('toy', 'Object Detection', 'Toy', 'yolox_nano_1xb16-24e_toyvoc'),
    'toy-seg': Family(
        'toy',
        'Semantic Segmentation',
        'Toy',
        'deeplabv3_r50-d8-w16_1xb8-3000it_toyvoc-128x128',
    ),
    'toy-cls': Family('toy', 'Image Classification', 'Toy', 'resnet18_1xb32-700it_toycls-64x64'),
}
#: the model part of a config name -> its name in tables
MODEL_NAMES: Dict[str, str] = {
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
#: the task of a config of each OpenMMLab scope
SCOPE_TASKS: Dict[str, str] = {
    'mmdet': 'Object Detection',
    'mmseg': 'Semantic Segmentation',
    'mmpretrain': 'Image Classification',
}


def family_of(folder: str, name: str) -> Family:
    """The family of the config ``name`` in ``configs/<folder>``: the one whose baseline is its
    recipe, else the folder's first (a recipe without a comparison of its own, e.g. the 40k
    DeepLabV3 rows). Raises for a folder that no family names."""
    baseline = parse_config_name(name).baseline
    in_folder = [f for f in FAMILIES.values() if f.folder == folder]
    if not in_folder:
        raise ValueError(
            f'configs/{folder}: no family of ela_mm.comparison.catalogue.FAMILIES has this '
            f'folder; add one'
        )
    return next((f for f in in_folder if f.baseline == baseline), in_folder[0])


def family_named(name: str) -> Family:
    """:data:`FAMILIES` ``[name]``, or a ``ValueError`` that lists the names."""
    if name not in FAMILIES:
        raise ValueError(f'unknown family {name!r}; choose from {", ".join(FAMILIES)}')
    return FAMILIES[name]


_NAME = re.compile(
    r'^(?P<model>.+?)(?:-(?P<attention>'
    + '|'.join(sorted(ATTENTION_SUFFIXES, key=len, reverse=True))
    + r'))?_(?P<batch>\d+xb\d+)'
    r'(?:-(?P<schedule>[^_]+))?_(?P<dataset>[a-z0-9]+)(?:-(?P<size>[^_]+))?$'
)


class ConfigName(NamedTuple):
    model: str  # e.g. 'yolox_nano', 'deeplabv3_r50-d8'
    attention: Optional[str]  # label ('ELA-T', 'SE', ...) or None for the plain model
    batch: str  # '8xb8'
    schedule: Optional[str]  # '300e', '20k', or None (the upstream default)
    dataset: str  # key of DATASETS
    size: Optional[str]  # '512x512' or None

    @property
    def baseline(self) -> str:
        """The name of the plain model of the same recipe."""
        sched = f'-{self.schedule}' if self.schedule else ''
        size = f'-{self.size}' if self.size else ''
        return f'{self.model}_{self.batch}{sched}_{self.dataset}{size}'


def parse_config_name(name: str) -> ConfigName:
    """Split a config name (with or without ``.py`` and folders) by the grammar above."""
    base = osp.splitext(osp.basename(name))[0]
    m = _NAME.match(base)
    if m is None or m['dataset'] not in DATASETS:
        raise ValueError(
            f'config name {base!r} does not follow {{model}}[-{{attention}}]_{{gpus}}x{{batch}}'
            f'[-{{schedule}}]_{{dataset}}[-{{size}}] with a dataset in {sorted(DATASETS)}'
        )
    att = m['attention']
    return ConfigName(
        m['model'],
        ATTENTION_SUFFIXES[att] if att else None,
        m['batch'],
        m['schedule'],
        m['dataset'],
        m['size'],
    )


def attention_label(cfgs: List[dict]) -> str:
    """'ELA-T', 'SE', ..., joined by ', ' for several modules; 'none' for none."""
    if not cfgs:
        return 'none'
    return ', '.join(
        ATTENTION_LABELS[c['type']].format(variant=str(c.get('variant', 'B')).upper()) for c in cfgs
    )


def attention_of(backbone: dict) -> str:
    """The attention label of what a backbone config builds: plugins, ``WithAttention`` entries
    and the attention backbones' ``attention``."""
    cfgs = [p['cfg'] for p in backbone.get('plugins') or []]
    if backbone.get('type') == 'WithAttention':  # [dict(cfg=..., after=...), ...]
        cfgs += [a['cfg'] for a in backbone['attention']]
    elif backbone.get('attention'):  # AttnResNet / AttnMobileNetV2
        cfgs.append(backbone['attention'])
    return attention_label(cfgs)


def load_model_index(root: str) -> List[dict]:
    """Every model of ``<root>/model-index.yml``: its metafile entry plus ``family`` (the config
    folder), ``path`` (absolute config path) and ``parsed`` (:class:`ConfigName`)."""
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for meta in index['Import']:
        with open(osp.join(root, meta)) as f:
            for m in yaml.safe_load(f)['Models']:
                models.append(
                    dict(
                        m,
                        family=osp.basename(osp.dirname(meta)),
                        path=osp.normpath(osp.join(root, m['Config'])),
                        parsed=parse_config_name(m['Name']),
                    )
                )
    return models


def comparison_rows(root: str, baseline: str) -> List[dict]:
    """The plain baseline config named ``baseline`` and every config of the model index that
    is the same recipe with an attention module, baseline first."""
    models = load_model_index(root)
    rows = [m for m in models if m['parsed'].baseline == baseline]
    rows.sort(key=lambda m: row_rank(m['parsed'].attention))
    if not rows or rows[0]['parsed'].attention is not None:
        raise ValueError(f'no plain baseline {baseline!r} in the model index')
    return rows


def expected_hash(entry: dict, schedule: Optional[str] = None) -> str:
    """:func:`config_hash` of a model-index entry's config as it is now, with ``schedule``
    (``tools/train.py --schedule``) applied where the result was measured with one."""
    from ela_mm.utils.config import load_config
    from ela_mm.utils.schedule import scale_schedule

    cfg = load_config(entry['path'])
    if schedule:
        scale_schedule(cfg, schedule)
    return config_hash(cfg)


def result_status(entry: dict) -> str:
    """'not measured', 'current', or 'stale: <why>' for a model-index entry's first result: stale
    when the config (or what it inherits) has changed since the result was measured, when the
    result predates config hashes, or when it was measured on another version of the toy
    data than the one generated now."""
    if entry['Metadata'].get('Status') != 'measured':
        return 'not measured'
    training = entry['Results'][0].get('Training', {})
    recorded = training.get('Config hash')
    if not recorded:
        return 'stale: measured with an earlier recipe (no config hash recorded)'
    schedule = training.get('Schedule')
    schedule = None if schedule in (None, 'as in the config') else schedule
    if not osp.isfile(entry['path']):  # renamed or removed since; --write drops the entry
        return f'stale: its config {entry["Config"]} no longer exists'
    if recorded != expected_hash(entry, schedule):
        return f'stale: the config changed since it was measured (hash {recorded})'
    data = training.get('Data')
    if data is not None:
        from ela_mm.datasets.toy_voc import CROPS_VERSION, GENERATOR_VERSION

        if data.get('generator_version') != GENERATOR_VERSION:
            return 'stale: measured on an earlier version of the toy data'
        if data.get('crops_version', CROPS_VERSION) != CROPS_VERSION:  # recorded where read
            return 'stale: measured on an earlier version of the toy classification crops'
    return 'current'


# ---- the metafiles: read and written only here ------------------------------------------------
METAFILE_HEADER = '# Generated by tools/misc/metafile.py --write; parameters are measured.\n'


def _metafile(root: str, folder: str) -> str:
    return osp.join(root, 'configs', folder, 'metafile.yml')


def _read_metafile(path: str) -> Tuple[str, dict]:
    """(its first line, its content) of a metafile."""
    import yaml

    with open(path) as f:
        return f.readline(), yaml.safe_load(f)


def _write_metafile(path: str, header: str, meta: dict) -> None:
    import yaml

    text = yaml.safe_dump(meta, sort_keys=False)
    with open(path, 'w') as f:
        f.write(header)
        f.write(text)


def measured_results(root: str) -> Dict[str, list]:
    """``{config name: Results}`` of the models the metafiles mark as measured, each first
    result with its ``status`` (:func:`result_status`) added."""
    out = {}
    for entry in load_model_index(root):
        if entry['Metadata'].get('Status') == 'measured':
            out[entry['Name']] = [dict(entry['Results'][0], status=result_status(entry))]
            out[entry['Name']] += entry['Results'][1:]
    return out


def write_metafiles(rows: List[dict], root: str) -> None:
    """(Re)write ``configs/<folder>/metafile.yml`` and ``model-index.yml`` for ``rows`` (one
    dict per config: ``family`` (its folder), ``name``, ``config``, ``params``, ``attention``,
    ``dataset``, ``task``, ``results`` (kept from :func:`measured_results`, or None))."""
    import yaml

    by_folder = defaultdict(list)
    for r in rows:
        by_folder[r['family']].append(r)
    for folder, items in by_folder.items():
        collection = family_of(folder, items[0]['name']).collection
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
        with open(_metafile(root, folder), 'w') as f:
            f.write(METAFILE_HEADER)
            f.write(text)
    with open(osp.join(root, 'model-index.yml'), 'w') as f:
        f.write(
            yaml.safe_dump(
                dict(Import=[f'configs/{fam}/metafile.yml' for fam in sorted(by_folder)])
            )
        )


def _grid_models(rows: List[dict], root: str, metas: dict):
    """``(row, metafile path, the row's model in it or None)`` for every grid row with a
    model-index entry; ``metas`` keeps each metafile read (``{path: (header, content)}``)."""
    for r in rows:
        if r['entry'] is None:
            continue
        path = _metafile(root, r['entry']['family'])
        if path not in metas:
            metas[path] = _read_metafile(path)
        models = metas[path][1]['Models']
        yield r, path, next((m for m in models if m['Name'] == r['name']), None)


def _options(value) -> list:
    """``--cfg-options`` as a sorted list of 'key=value' strings (lists, dicts or None)."""
    if isinstance(value, dict):
        return sorted(f'{k}={v}' for k, v in value.items())
    return sorted(value or [])


def how_measured(manifest: dict, seeds: Sequence[int]) -> dict:
    """What a result of a grid (its ``grid.json`` manifest) was measured with, as the metafiles
    record it."""
    return dict(
        schedule=manifest.get('schedule') or 'as in the config',
        seeds=sorted(seeds),
        data_root=manifest.get('data_root') or None,
        options=_options(manifest.get('cfg_options')),
    )


def _fmt(x: Optional[float]) -> str:
    return '-' if x is None or (isinstance(x, float) and math.isnan(x)) else f'{x:.4f}'


def replaced_results(rows: List[dict], manifest: dict, root: str) -> List[str]:
    """'config: what differs' for every grid row (``name``, ``entry``, ``values``, ``summary``)
    whose metafile already holds a measured result that it would replace with one measured
    differently: another schedule, fewer seeds, another data root or other --cfg-options
    (each a different experiment, not a re-run)."""
    out = []
    for r, _, old in _grid_models(rows, root, {}):
        if old is None or old['Metadata'].get('Status') != 'measured':
            continue
        result = (old.get('Results') or [{}])[0]
        training = result.get('Training') or {}
        new = how_measured(manifest, r['values'])
        diffs = []
        if (training.get('Schedule') or 'as in the config') != new['schedule']:
            diffs.append(f'schedule {training.get("Schedule")!r} -> {new["schedule"]!r}')
        old_seeds = training.get('Seeds') or []
        if len(new['seeds']) < len(old_seeds):
            diffs.append(f'seeds {old_seeds} -> {new["seeds"]} (fewer)')
        if (training.get('Data root') or None) != new['data_root']:
            own = "the config's own"
            diffs.append(
                f'data root {training.get("Data root") or own} -> {new["data_root"] or own}'
            )
        if _options(training.get('Options')) != new['options']:
            diffs.append(
                f'--cfg-options {_options(training.get("Options")) or "none"} -> '
                f'{new["options"] or "none"}'
            )
        if diffs:
            metrics = ', '.join(f'{k} {v}' for k, v in (result.get('Metrics') or {}).items())
            new_mean = r['summary'].mean if r.get('summary') else float('nan')
            out.append(
                f'{r["name"]} (published {metrics or "-"}; this grid {_fmt(new_mean)}): '
                + '; '.join(diffs)
            )
    return out


def record_results(
    rows: List[dict], metric: str, manifest: dict, machine: str, date: str, root: str
) -> List[str]:
    """Write measured grid rows (``name``, ``entry``, ``values``, ``summary``, ``config_hash``,
    ``data``) into the metafile entries of their configs: the mean and spread of ``metric``,
    and how, where and when they were measured. Returns the metafiles changed."""
    changed = {}
    for r, _, model in _grid_models(rows, root, changed):
        s = r['summary']
        seeds = sorted(r['values'])
        key = metric.split('/')[-1]
        model['Metadata']['Status'] = 'measured'
        model['Results'][0]['Metrics'] = {
            key: round(s.mean, 4),
            f'{key} std': None if math.isnan(s.std) else round(s.std, 4),
        }
        how = how_measured(manifest, seeds)
        training = dict(
            Schedule=how['schedule'],
            Seeds=seeds,
            Machine=machine,
            Date=date,
            Command='tools/run_grid.py + tools/collect_grid.py',
            **{'Config hash': r['config_hash']},
        )
        if r.get('data'):
            training['Data'] = r['data']
        if how['data_root']:
            training['Data root'] = how['data_root']
        if how['options']:
            training['Options'] = how['options']
        model['Results'][0]['Training'] = training
    for path, (header, meta) in changed.items():
        _write_metafile(path, header, meta)
    return sorted(changed)


# ---- how published results are shown -----------------------------------------------------------
def results_text(results: Optional[list]) -> str:
    """'mAP 0.812 ± 0.010 (n=3 seeds, 24e, 2026-12-01)' for a measured model; a result whose
    config has changed since is marked STALE and says why, without its number."""
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


ZOO = osp.join('docs', 'model_zoo.md')
ZOO_HEADER = """# Model zoo

<!-- Generated by `python tools/misc/metafile.py --zoo` from the metafiles (model-index.yml);
do not edit by hand: tests/test_docs.py fails when this page and the metafiles disagree. -->

Every shipped config, by family, with its parameter count (measured by building the model,
`tools/misc/metafile.py --write`) and the status of its result.{real} The toy
rows (generated data, minutes on a CPU) are in their own section at the end; a toy result is
shown only while it is *current*: a row whose config (or a file it inherits) changed since it
was measured, that predates the config hashes of `run.json`, or that was measured on an earlier
version of the toy data is shown as **STALE** without its number
(`ela_mm.comparison.catalogue.result_status`). The measured toy comparison, with its commands,
machine and date, is [toy_comparison.md](toy_comparison.md).

The result column is `not yet trained` (no result), the measured mean ± standard deviation over
seeds with schedule and date (a current result: it belongs to the config as it is now), or
`STALE (why)` (re-measure with [the comparison grid](user_guides/comparison_grid.md)).
How to switch the ELA variant of a row and how the families are built:
[configs](user_guides/configs.md).
"""


def zoo_rows(root: str) -> List[dict]:
    """One dict per model of the model index, as the zoo page shows it (no model is built)."""
    rows = []
    for e in load_model_index(root):
        parsed = e['parsed']
        res = e['Results'] if e['Metadata'].get('Status') == 'measured' else None
        if res:
            res = [dict(res[0], status=result_status(e))] + res[1:]
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
    folders = list(dict.fromkeys(f.folder for f in FAMILIES.values()))
    rows.sort(
        key=lambda r: (
            folders.index(r['family']) if r['family'] in folders else len(folders),
            r['task'],
            r['dataset'],
            r['model'],
            r['recipe'],
            row_rank(r['attention']),
            r['name'],
        )
    )
    return rows


def zoo_page(root: str) -> str:
    """The text of docs/model_zoo.md for the metafiles under ``root``."""
    by_folder = defaultdict(list)
    for r in zoo_rows(root):
        by_folder[r['family']].append(r)
    real = [r for rows in by_folder.values() for r in rows if r['family'] != 'toy']
    untrained = not any(r['results'] for r in real)
    out = [
        ZOO_HEADER.format(
            real='\n**No model has been trained on the real datasets by this project yet**: '
            'every real row reads\n*not yet trained*.'
            if untrained
            else ''
        )
    ]
    for folder, rows in by_folder.items():
        fam = family_of(folder, rows[0]['name'])
        toy = folder == 'toy'
        if toy:
            out.append('## Toy rows (generated data)\n')
            out.append(
                'The real config of each family with only data, input size and schedule '
                'changed (configs/toy/); trained and tested by `make demo`, `make demo-seg`, '
                '`make demo-cls` and the toy comparison.\n'
            )
        else:
            out.append(f'## {fam.collection} ({fam.task})\n')
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


def write_zoo(root: str) -> str:
    """Write docs/model_zoo.md under ``root``; returns its path."""
    path = osp.join(root, ZOO)
    with open(path, 'w') as f:
        f.write(zoo_page(root))
    return path
