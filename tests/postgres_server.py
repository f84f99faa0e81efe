"""A real PostgreSQL 16 server (with pgvector) for the tests, from the ``pgserver`` package: started once per
test session in a temporary folder, stopped and deleted at the end. Import the fixtures into a test module:
``from postgres_server import postgres_server, postgres_url  # noqa: F401``."""

from __future__ import annotations

import inspect
import re
import tempfile
import uuid

import pytest


@pytest.fixture(scope="session")
def postgres_server():
    """The server's connection URL (its ``postgres`` database); skips when pgserver/psycopg are missing."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver is not installed (pip install 'facerec[postgres]')")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'facerec[postgres]')")
    # Not under pytest's tmp folder: as root, pgserver runs the server as its own user, who cannot enter it.
    server = pgserver.get_server(tempfile.mkdtemp(prefix="facerec-pgdata-"), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def database_url(server_url: str, name: str) -> str:
    return re.sub(r"/postgres(\?|$)", rf"/{name}\1", server_url, count=1)


def new_database(server_url: str) -> str:
    """Create an empty database on the server; returns its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return database_url(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    import psycopg

    name = re.search(r"@[^/]*/(\w+)", url).group(1)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database for one test."""
    url = new_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


@pytest.fixture
def store(postgres_url):
    """The ``store`` fixture of the SQLite tests, on a fresh PostgreSQL database."""
    from facerec.store import GalleryStore

    s = GalleryStore(postgres_url)
    yield s
    s.close()


def _params(fn) -> set[str]:
    fn = getattr(fn, "_get_wrapped_function", lambda: fn)()
    return set(inspect.signature(fn).parameters)


def _is_fixture(value) -> bool:
    return hasattr(value, "_pytestfixturefunction") or type(value).__name__ == "FixtureFunctionDefinition"


def rerun_on_postgres(module, namespace: dict, skip: set[str] = frozenset()) -> None:
    """Copy into ``namespace`` (a test module that imports ``store`` from here) every test of ``module`` that uses
    the ``store`` fixture, directly or through the module's own fixtures, with those fixtures: they run against
    PostgreSQL too, and tests added there later join automatically."""
    fixtures = {n: v for n, v in vars(module).items() if _is_fixture(v)}
    on_store = {"store"}
    changed = True
    while changed:  # fixtures that use the store, directly or through one another
        changed = False
        for name, fixture in fixtures.items():
            if name not in on_store and _params(fixture) & on_store:
                on_store.add(name)
                changed = True
    for name, value in vars(module).items():
        if name in skip or name in namespace:
            continue
        if name.startswith("test_") and callable(value) and _params(value) & on_store:
            namespace[name] = value
        elif name in on_store and name in fixtures:
            namespace[name] = value
