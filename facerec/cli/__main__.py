"""``python -m facerec.cli``: the same as the ``facerec`` script."""

from .main import run

run()
