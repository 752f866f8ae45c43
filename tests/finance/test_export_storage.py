"""Finance exports cross processes through Django's storage API: a worker process with its own
temporary directory builds the file, the web process (another temporary directory) serves
it. Before, the worker wrote to its /tmp and the web read its own /tmp, which breaks as soon
as they run on different hosts (as in docker-compose.yml)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import Membership, Organisation
from finance.models import FinanceExport
from ledger.services import accounting_period_for
from tests.factories import MembershipFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_builds_the_export_and_the_web_serves_it(
    tmp_path, settings, client, tenant_factory, monkeypatch
):
    media = tmp_path / "shared-media"
    settings.STORAGES = {
        **settings.STORAGES,
        "finance_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media / "finance-exports")},
        },
    }
    accounting_period_for(day=dt.date(2026, 3, 1))
    export = FinanceExport.objects.create(
        kind="journal", file_format="csv", params={"period": "2026-03", "currency": "USD"}
    )
    worker_tmp, web_tmp = tmp_path / "worker-tmp", tmp_path / "web-tmp"
    worker_tmp.mkdir()
    web_tmp.mkdir()

    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "MEDIA_ROOT": str(media),
        "TMPDIR": str(worker_tmp),
    }
    build = (
        "import django; django.setup(); from finance.exports import finance_export_build; "
        f"print(finance_export_build(export_id={export.pk}).status)"
    )
    worker = subprocess.run(
        [sys.executable, "-c", build], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert worker.stdout.strip().endswith("completed")
    assert not any(worker_tmp.rglob("*.csv")), "the worker's scratch file is removed"

    monkeypatch.setattr(tempfile, "tempdir", str(web_tmp))
    platform = tenant_factory(Organisation.Kind.PLATFORM, "TrainRight").organisation
    client.force_login(MembershipFactory(organisation=platform, role=Membership.Role.FINANCE).user)
    response = client.get(f"/finance/exports/{export.pk}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("date,")
    assert (media / "finance-exports" / FinanceExport.objects.get(pk=export.pk).file_path).exists()
    assert not any(web_tmp.iterdir())
