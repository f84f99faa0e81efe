"""test_xmp_library.py on a real PostgreSQL server: every test there that uses the ``store`` fixture runs here too."""

from __future__ import annotations

import test_xmp_library
from postgres_server import postgres_server, postgres_url, rerun_on_postgres, store  # noqa: F401

rerun_on_postgres(test_xmp_library, globals())
