"""Benchmarks that write what they cannot clean up (append-only ledger rows) run in a database
of their own, created afresh and migrated, so `make bench` never leaves data in the demo's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings


def bench_relaunch_in_own_database(
    *, command: str, database_name: str, options: dict[str, Any], passed: tuple[str, ...]
) -> None:
    """Recreate ``database_name``, migrate it, and run ``manage.py <command> --inside`` against
    it with the ``passed`` options (the command's ``--inside`` run does the measuring)."""
    flags = [f"--{name}={options[name]}" for name in passed]
    database = settings.DATABASES["default"]
    server = (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}"
    )
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database_name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {database_name}")
    environment = {**os.environ, "DATABASE_URL": f"{server}/{database_name}"}
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [*manage, "migrate", "--noinput", "-v0"], env=environment, check=True
    )
    subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [*manage, command, "--inside", *flags], env=environment, check=True
    )
