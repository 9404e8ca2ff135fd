"""Plain types every layer builds on: no numba, no file or network I/O.

- :mod:`~fairbench.core.missing`: the one vocabulary of missing attribute values;
- :mod:`~fairbench.core.bands`: numeric values (ages) into labelled bands;
- :mod:`~fairbench.core.scale`: internal similarity vs a matcher's native score scale;
- :mod:`~fairbench.core.codes`: images reduced to integer subject and stratum codes;
- :mod:`~fairbench.core.operating`: one operating-point type for 1:1 and 1:N;
- :mod:`~fairbench.core.counts`: what the 1:1 engine hands to metrics;
- :mod:`~fairbench.core.search`: what every 1:N search found;
- :mod:`~fairbench.core.settings`: how rates are read (intervals, references, bootstrap).
"""
