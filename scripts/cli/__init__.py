"""The ``zafka`` command line (README.md, "The `zafka` command").

``main`` parses and dispatches; each command group lives in its own module and
imports the heavy parts (the supervisor, the client API) only when it runs, so
``zafka --help`` is instant and a forkserver that re-imports the main module pays
nothing for it. ``plan`` holds the capacity formulas as pure functions.
"""
