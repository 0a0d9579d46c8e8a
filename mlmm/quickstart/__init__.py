"""Quickstart orchestration below the CLI: every ``mlmm quickstart --model <family>`` entry runs through here.

- ``corpus``: synthesise or reuse the six-language corpus in ``DIR/data``; the benchmark over its test split;
- ``stages``: the declarative stage table (recipe, data split, parent export) and the one way a stage runs
  (train, or reuse with ``--reuse``; optional per-stage costs);
- ``tables``: chance baselines and the markdown retrieval tables;
- ``outputs``: ``DIR/metrics.json`` + the table file;
- ``entry``: ``Family`` / ``Settings`` / ``run_family`` (corpus -> chain -> metrics with baselines -> files);
- ``families``: the families (``mclip``, ``mla``) and their ``run_<name>`` entries.

No argv parsing and no printing here: ``mlmm/cli/quickstart.py`` maps ``--model`` to a ``run_<name>``.
"""
