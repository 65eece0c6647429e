"""The process harness shared by the tests and `bench/`: `executor sim` and `executor run` as real
subprocesses, the invariants checked against the simulator's own records, the crash trial and the soak.

Not part of the installed product (only `executor` and `adapters` are packaged); it is imported from the
checkout root, where pytest (`pythonpath = ["."]`) and `python -m bench.NAME` both put it on the path.
"""
