"""``python -m evsynth``: the ``evsynth`` command (see :mod:`evsynth.cli`)."""

from evsynth.cli import main

main()
