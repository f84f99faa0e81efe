"""``python -m facerec.cli``: the same as the ``facerec`` script."""

import sys

from .main import main

sys.exit(main())
