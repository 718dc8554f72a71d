"""Fuzzing as a product: public hypothesis strategies for edge-case fact sets and the fuzzer.

A room for the fuzzing work (see the project's issues); it holds no code yet. The test
suite's own strategies are in ``tests/strategies.py`` until then.
"""

__all__: list[str] = []
