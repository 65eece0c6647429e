"""What the tests share: factories, helpers and in-process harnesses, imported as `tests.support.*`.

The subprocess harness (`executor sim` and `executor run` as real processes, their invariants, the crash
trial and the soak) is the top-level `harness` package, because `bench/` runs it too.
"""
