"""The offline side of mediarec, run by the ``mediarec`` command.

- The training core, at this level: the split (``split``), training data from SQL (``data``), the
  network (``network``), the loop (``train``), evaluation (``evaluation``), the peer baselines
  (``peers``), ONNX export (``export``), publishing bundles (``publish``), the run log (``runs``)
  and the whole job end to end (``pipeline``).
- ``datasets/``: MovieLens 100K, CSV interaction logs, the synthetic media world.
- ``local/``: the local server and the in-process Lambda invoker.
- ``benchmarks/``: ``mediarec benchmark ...``.
- ``cli/``: every subcommand and flag of ``mediarec``, registered in one place.

Everything here may import ``functions``; nothing under ``functions`` imports ``training``.
"""
