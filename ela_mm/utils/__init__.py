"""Helpers of the tools, one file per concern:

* ``config``: load shipped or downstream configs (names resolved), build models;
* ``launch``: what train.py and test.py share (arguments applied, distributed start-up, CPU
  SyncBN, ``run.json``, the runner);
* ``validate``: attention arguments checked with their dotted config key;
* ``data_check``: dataset and evaluator paths, ``--data-root``, early errors for missing data;
* ``checkpoint``: safe loading of mmengine checkpoints, fit checks;
* ``schedule``: ``--schedule``, a recipe shortened or lengthened with every phase kept;
* ``model_index``: metafiles, config names, config hashes and result status (current/STALE);
* ``grid``, ``results``, ``stats``: the comparison grid, the metrics runs wrote, statistics;
* ``timing``, ``memory``, ``flops``, ``synthetic``, ``report``: the cost tools' measurements,
  synthetic batches and Markdown reports;
* ``visualization``: attention maps.

Import the module you need; nothing is imported here."""
