"""``python -m caloforge.cli``: the same as the ``caloforge`` command."""

from caloforge.cli import main

main()
