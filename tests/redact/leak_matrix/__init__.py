"""The leak matrix of issue 14: every output path of a process x value shapes x the ways a value becomes known.

``cells`` lists the output paths, ``shapes`` makes the values (at run time), ``server`` runs each cell in a fresh
forked process, ``detect`` searches what it wrote (as an attacker would, independently of ``strongroom.redact``),
``run`` puts them together and prints the matrix (``python -m leak_matrix.run`` from ``tests/redact``).
"""
