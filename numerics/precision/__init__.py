"""Finite precision: what survives float32, bfloat16 and integer weights, with certificates.

A room for the precision certifier and the bits frontier (see the project's issues); it
holds no code yet.
"""

__all__: list[str] = []
