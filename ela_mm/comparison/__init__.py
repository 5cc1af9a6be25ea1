"""The comparison of attention modules and the catalogue of the shipped configs:

* ``catalogue``: the config-name grammar, the family table, the row order, the model index and
  the metafiles (read and written only here), config hashes and the staleness of published
  results, the model-zoo page;
* ``grid``: a comparison grid (every config x seed of a family, as ``tools/run_grid.py`` runs
  it);
* ``results``: the test metrics a run wrote;
* ``stats``: means, spreads and paired differences over seeds.

Import the module you need; nothing is imported here."""
