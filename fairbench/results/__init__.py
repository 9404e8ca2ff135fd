"""Run folders: versioned schema, atomic writes, arrays on disk, and the :class:`Run` object.

- :mod:`~fairbench.results.schema`: run.json models, one JSON Schema file per version,
  upgraders from older versions;
- :mod:`~fairbench.results.folder`: a run folder written whole under a hidden name, then
  renamed; atomic text, JSON and array writers;
- :mod:`~fairbench.results.arrays`: counts.npz, search.npz and bootstrap.npz;
- :mod:`~fairbench.results.run`: :class:`Run`, what ``fairbench.run`` returns and
  ``fairbench.load`` reads back.
"""
