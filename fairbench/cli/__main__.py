"""``python -m fairbench.cli``: the same as the ``fairbench`` command."""

from fairbench.cli import main

main()
