# The finance models, taken over from the royalties app (royalties/migrations/0008 lets them go).
# Django's state changes, and pgtrigger's triggers are installed again under this app's name;
# the tables keep their royalties_* names (db_table), their rows, constraints and the raw-SQL
# constraint triggers. Their content types follow them (admin permissions and history).

import core.fields
import django.db.models.deletion
import django_fsm
from django.conf import settings
from django.db import migrations, models


MODELS = ['financeexport', 'reconciliationcomment', 'reconciliationexception', 'reconciliationexceptionevent', 'reconciliationrun', 'stripebalancetransaction']


def _relabel(apps, schema_editor, old, new):
    # A database migrated from scratch has no content types yet here: nothing to do.
    content_types = apps.get_model('contenttypes', 'ContentType').objects.using(
        schema_editor.connection.alias
    )
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)


def content_types_forwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'royalties', 'finance')


def content_types_backwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'finance', 'royalties')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('royalties', '0008_models_move_to_their_apps'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ReconciliationException',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('missing_in_ledger', 'In Stripe, not in the ledger'), ('missing_in_stripe', 'In the ledger, not in Stripe'), ('amount_mismatch', 'Amount mismatch'), ('currency_mismatch', 'Currency mismatch'), ('fee_mismatch', 'Fee mismatch'), ('timing', 'Timing (pending at Stripe, or dated in another period)')], max_length=20)),
                        ('status', django_fsm.FSMField(choices=[('open', 'Open'), ('assigned', 'Assigned'), ('resolved', 'Resolved')], default='open', max_length=10)),
                        ('stripe_object_id', models.CharField(max_length=255)),
                        ('occurred_on', models.DateField(help_text='Its accounting date: decides the period.')),
                        ('currency', models.CharField(max_length=3)),
                        ('expected_minor', models.BigIntegerField(default=0)),
                        ('actual_minor', models.BigIntegerField(default=0)),
                        ('detail', models.CharField(blank=True, default='', max_length=300)),
                        ('resolution_reason', models.TextField(blank=True, default='')),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'royalties_reconciliationexception',
                        'ordering': ['status', '-occurred_on', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationExceptionEvent',
                    fields=[
                        ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                        ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                        ('pgh_label', models.TextField(help_text='The event label.')),
                        ('id', models.BigIntegerField()),
                        ('kind', models.CharField(choices=[('missing_in_ledger', 'In Stripe, not in the ledger'), ('missing_in_stripe', 'In the ledger, not in Stripe'), ('amount_mismatch', 'Amount mismatch'), ('currency_mismatch', 'Currency mismatch'), ('fee_mismatch', 'Fee mismatch'), ('timing', 'Timing (pending at Stripe, or dated in another period)')], max_length=20)),
                        ('status', django_fsm.FSMField(choices=[('open', 'Open'), ('assigned', 'Assigned'), ('resolved', 'Resolved')], default='open', max_length=10)),
                        ('stripe_object_id', models.CharField(max_length=255)),
                        ('occurred_on', models.DateField(help_text='Its accounting date: decides the period.')),
                        ('currency', models.CharField(max_length=3)),
                        ('expected_minor', models.BigIntegerField(default=0)),
                        ('actual_minor', models.BigIntegerField(default=0)),
                        ('detail', models.CharField(blank=True, default='', max_length=300)),
                        ('resolution_reason', models.TextField(blank=True, default='')),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'royalties_reconciliationexceptionevent',
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('window_start', models.DateTimeField()),
                        ('window_end', models.DateTimeField(help_text='Exclusive.')),
                        ('status', django_fsm.FSMField(choices=[('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed')], default='running', max_length=10)),
                        ('imported_count', models.PositiveIntegerField(default=0)),
                        ('matched_count', models.PositiveIntegerField(default=0)),
                        ('exception_count', models.PositiveIntegerField(default=0)),
                        ('totals', models.JSONField(blank=True, default=dict, help_text='Per currency, in minor units: stripe_net, ledger_net, matched_net.')),
                        ('error', models.TextField(blank=True, default='')),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'royalties_reconciliationrun',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='StripeBalanceTransaction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('stripe_id', models.CharField(max_length=255, unique=True)),
                        ('type', models.CharField(help_text='charge, refund, transfer, payout, …', max_length=40)),
                        ('amount_minor', models.BigIntegerField()),
                        ('fee_minor', models.BigIntegerField()),
                        ('net_minor', models.BigIntegerField()),
                        ('currency', models.CharField(help_text='ISO 4217, uppercase.', max_length=3)),
                        ('status', models.CharField(help_text='pending or available.', max_length=20)),
                        ('available_on', models.DateTimeField()),
                        ('source_id', models.CharField(blank=True, default='', help_text='The Stripe object it moved money for.', max_length=255)),
                        ('account_id', models.CharField(blank=True, default='', help_text='Connected account; empty: platform.', max_length=255)),
                        ('created', models.DateTimeField(help_text='When Stripe created it.')),
                        ('imported_at', core.fields.ClockDateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'royalties_stripebalancetransaction',
                        'ordering': ['-created', 'stripe_id'],
                    },
                ),
                migrations.CreateModel(
                    name='FinanceExport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(help_text='A report name, journal or statements.', max_length=40)),
                        ('file_format', models.CharField(help_text='csv, xlsx or zip.', max_length=10)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed')], default='queued', max_length=10)),
                        ('progress_done', models.PositiveIntegerField(default=0)),
                        ('progress_total', models.PositiveIntegerField(default=0)),
                        ('file_path', models.CharField(blank=True, default='', max_length=500)),
                        ('filename', models.CharField(blank=True, default='', max_length=200)),
                        ('error', models.TextField(blank=True, default='')),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'royalties_financeexport',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationComment',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('body', models.TextField()),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('author', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'royalties_reconciliationcomment',
                        'ordering': ['created_at', 'id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards, elidable=False),
    ]
