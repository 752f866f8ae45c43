"""Create the database named in DATABASE_URL if it does not exist (local development)."""

from __future__ import annotations

import os

import dj_database_url
import psycopg
from psycopg import sql


def main() -> None:
    config = dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trainright")
    )
    name = config["NAME"]
    with psycopg.connect(
        host=config.get("HOST") or "127.0.0.1",
        port=config.get("PORT") or 5432,
        user=config.get("USER") or "postgres",
        password=config.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


if __name__ == "__main__":
    main()
