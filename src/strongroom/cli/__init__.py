"""The ``strongroom`` command line (Typer + Rich)."""
