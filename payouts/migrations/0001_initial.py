# The payouts models, taken over from the royalties app (royalties/migrations/0008 lets them go).
# Django's state changes, and pgtrigger's triggers are installed again under this app's name;
# the tables keep their royalties_* names (db_table), their rows, constraints and the raw-SQL
# constraint triggers. Their content types follow them (admin permissions and history).

import core.fields
import django.db.models.deletion
import django_fsm
from django.db import migrations, models


MODELS = ['collection', 'collectionevent', 'payout', 'payoutevent', 'payoutthreshold', 'payoutthresholdevent']


def _relabel(apps, schema_editor, old, new):
    # A database migrated from scratch has no content types yet here: nothing to do.
    content_types = apps.get_model('contenttypes', 'ContentType').objects.using(
        schema_editor.connection.alias
    )
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)


def content_types_forwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'royalties', 'payouts')


def content_types_backwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'payouts', 'royalties')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('royalties', '0008_models_move_to_their_apps'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('accounts', '0005_stripe_models_move_to_payments'),
        ('ledger', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CollectionEvent',
                    fields=[
                        ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                        ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                        ('pgh_label', models.TextField(help_text='The event label.')),
                        ('id', models.BigIntegerField()),
                        ('currency', models.CharField(max_length=3)),
                        ('amount_due_minor', models.BigIntegerField()),
                        ('status', django_fsm.FSMField(choices=[('due', 'Due'), ('paid', 'Paid'), ('failed', 'Failed (will retry)'), ('overdue', 'Overdue')], default='due', max_length=10, protected=True)),
                        ('attempts', models.PositiveIntegerField(default=0, help_text='Off-session charges tried.')),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('failure_reason', models.CharField(blank=True, default='', max_length=300)),
                        ('payment_intent_id', models.CharField(blank=True, default='', max_length=255)),
                        ('checkout_session_id', models.CharField(blank=True, default='', max_length=255)),
                        ('checkout_url', models.URLField(blank=True, default='', max_length=1000)),
                        ('charge_id', models.CharField(blank=True, max_length=255, null=True)),
                        ('stripe_fee_minor', models.BigIntegerField(default=0)),
                        ('collected_at', models.DateTimeField(blank=True, null=True)),
                        ('last_reminded_at', models.DateTimeField(blank=True, null=True)),
                        ('reminders_sent', models.PositiveIntegerField(default=0)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'royalties_collectionevent',
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='Payout',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=3)),
                        ('amount_minor', models.BigIntegerField()),
                        ('reversed_minor', models.BigIntegerField(default=0)),
                        ('status', django_fsm.FSMField(choices=[('scheduled', 'Scheduled'), ('sent', 'Sent'), ('paid', 'Paid'), ('failed', 'Failed'), ('reversed', 'Reversed')], default='scheduled', max_length=10, protected=True)),
                        ('on_hold', models.BooleanField(default=False, help_text='Finance holds it: not sent.')),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('failure_reason', models.CharField(blank=True, default='', max_length=300)),
                        ('idempotency_key', models.CharField(max_length=100, unique=True)),
                        ('destination_account_id', models.CharField(max_length=255)),
                        ('transfer_group', models.CharField(blank=True, default='', max_length=100)),
                        ('source_transaction', models.CharField(blank=True, default='', max_length=255)),
                        ('transfer_id', models.CharField(blank=True, max_length=255, null=True, unique=True)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('paid_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'royalties_payout',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='PayoutEvent',
                    fields=[
                        ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                        ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                        ('pgh_label', models.TextField(help_text='The event label.')),
                        ('id', models.BigIntegerField()),
                        ('currency', models.CharField(max_length=3)),
                        ('amount_minor', models.BigIntegerField()),
                        ('reversed_minor', models.BigIntegerField(default=0)),
                        ('status', django_fsm.FSMField(choices=[('scheduled', 'Scheduled'), ('sent', 'Sent'), ('paid', 'Paid'), ('failed', 'Failed'), ('reversed', 'Reversed')], default='scheduled', max_length=10, protected=True)),
                        ('on_hold', models.BooleanField(default=False, help_text='Finance holds it: not sent.')),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('failure_reason', models.CharField(blank=True, default='', max_length=300)),
                        ('idempotency_key', models.CharField(max_length=100)),
                        ('destination_account_id', models.CharField(max_length=255)),
                        ('transfer_group', models.CharField(blank=True, default='', max_length=100)),
                        ('source_transaction', models.CharField(blank=True, default='', max_length=255)),
                        ('transfer_id', models.CharField(blank=True, max_length=255, null=True)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('paid_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'royalties_payoutevent',
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='PayoutThreshold',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=3)),
                        ('minimum_minor', models.BigIntegerField()),
                        ('updated_at', core.fields.ClockDateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'royalties_payoutthreshold',
                        'ordering': ['holder_id', 'currency'],
                    },
                ),
                migrations.CreateModel(
                    name='PayoutThresholdEvent',
                    fields=[
                        ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                        ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                        ('pgh_label', models.TextField(help_text='The event label.')),
                        ('id', models.BigIntegerField()),
                        ('currency', models.CharField(max_length=3)),
                        ('minimum_minor', models.BigIntegerField()),
                        ('updated_at', core.fields.ClockDateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'royalties_payoutthresholdevent',
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='Collection',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=3)),
                        ('amount_due_minor', models.BigIntegerField()),
                        ('status', django_fsm.FSMField(choices=[('due', 'Due'), ('paid', 'Paid'), ('failed', 'Failed (will retry)'), ('overdue', 'Overdue')], default='due', max_length=10, protected=True)),
                        ('attempts', models.PositiveIntegerField(default=0, help_text='Off-session charges tried.')),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('failure_reason', models.CharField(blank=True, default='', max_length=300)),
                        ('payment_intent_id', models.CharField(blank=True, default='', max_length=255)),
                        ('checkout_session_id', models.CharField(blank=True, default='', max_length=255)),
                        ('checkout_url', models.URLField(blank=True, default='', max_length=1000)),
                        ('charge_id', models.CharField(blank=True, max_length=255, null=True, unique=True)),
                        ('stripe_fee_minor', models.BigIntegerField(default=0)),
                        ('collected_at', models.DateTimeField(blank=True, null=True)),
                        ('last_reminded_at', models.DateTimeField(blank=True, null=True)),
                        ('reminders_sent', models.PositiveIntegerField(default=0)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('journal_entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.journalentry')),
                        ('licensee', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation')),
                    ],
                    options={
                        'db_table': 'royalties_collection',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards, elidable=False),
    ]
