import datetime

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="SandboxClock",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("offset", models.DurationField(default=datetime.timedelta)),
                ("moved_at", models.DateTimeField(blank=True, null=True)),
                ("moved_by", models.CharField(blank=True, max_length=200)),
            ],
            options={
                "db_table": "core_sandbox_clock",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("id", 1)), name="sandbox_clock_single_row"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("offset__gte", datetime.timedelta(0))),
                        name="sandbox_clock_forward_only",
                    ),
                ],
            },
        ),
    ]
