# The settlement models, taken over from the royalties app (royalties/migrations/0008 lets them go).
# Django's state changes, and pgtrigger's triggers are installed again under this app's name;
# the tables keep their royalties_* names (db_table), their rows, constraints and the raw-SQL
# constraint triggers. Their content types follow them (admin permissions and history).

import core.fields
import django.contrib.postgres.fields
import django.db.models.deletion
import django_fsm
from django.db import migrations, models


MODELS = ['agreementposition', 'carrybalance', 'ratedline', 'settlementagreement', 'settlementchunk', 'settlementreport', 'settlementrun', 'statement', 'statementline']


def _relabel(apps, schema_editor, old, new):
    # A database migrated from scratch has no content types yet here: nothing to do.
    content_types = apps.get_model('contenttypes', 'ContentType').objects.using(
        schema_editor.connection.alias
    )
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)


def content_types_forwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'royalties', 'settlement')


def content_types_backwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'settlement', 'royalties')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('royalties', '0008_models_move_to_their_apps'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('accounts', '0005_stripe_models_move_to_payments'),
        ('catalog', '0004_alter_catalogue_created_at_and_more'),
        ('ledger', '0001_initial'),
        ('marketplace', '0003_alter_checkoutattempt_created_at_and_more'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='SettlementChunk',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('chunk_no', models.PositiveIntegerField()),
                        ('agreement_ids', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=None)),
                        ('lines_total', models.BigIntegerField(default=0)),
                        ('lines_rated', models.BigIntegerField(default=0)),
                        ('done_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'royalties_settlementchunk',
                        'ordering': ['run_id', 'chunk_no'],
                    },
                ),
                migrations.CreateModel(
                    name='SettlementReport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('usage_period_start', models.DateField()),
                        ('usage_period_end', models.DateField()),
                    ],
                    options={
                        'db_table': 'royalties_settlementreport',
                        'ordering': ['run_id', 'agreement_id', 'usage_period_start', 'report_id'],
                    },
                ),
                migrations.CreateModel(
                    name='SettlementRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('period_start', models.DateField(help_text='First day of the settled month.', unique=True)),
                        ('period_end', models.DateField(help_text='First day after the settled month.')),
                        ('posting_date', models.DateField(help_text="Effective date of the run's journal entries.")),
                        ('status', django_fsm.FSMField(choices=[('created', 'Created'), ('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed')], default='created', max_length=10, protected=True)),
                        ('agreements_total', models.PositiveIntegerField(default=0)),
                        ('chunks_total', models.PositiveIntegerField(default=0)),
                        ('lines_total', models.BigIntegerField(default=0, help_text='Usage lines to rate.')),
                        ('statements_total', models.PositiveIntegerField(default=0)),
                        ('error', models.TextField(blank=True, default='')),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'royalties_settlementrun',
                        'ordering': ['-period_start'],
                    },
                ),
                migrations.CreateModel(
                    name='Statement',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=3)),
                        ('period_start', models.DateField()),
                        ('period_end', models.DateField()),
                        ('opening_balance_minor', models.BigIntegerField()),
                        ('earned_minor', models.BigIntegerField()),
                        ('closing_balance_minor', models.BigIntegerField()),
                        ('carry_forward_exact', models.DecimalField(decimal_places=18, max_digits=40)),
                        ('line_count', models.PositiveIntegerField()),
                        ('sha256', models.CharField(help_text='SHA-256 of the canonical lines.', max_length=64)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'royalties_statement',
                        'ordering': ['-period_start', 'holder_id', 'currency'],
                    },
                ),
                migrations.CreateModel(
                    name='StatementLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=3)),
                        ('kind', models.CharField(choices=[('usage', 'Usage royalties'), ('adjustment', 'Adjustment for a corrected report'), ('credit', 'Credit for a corrected report'), ('guarantee_shortfall', 'Minimum guarantee shortfall'), ('upfront_fee', 'Upfront fee'), ('advance', 'Recoupable advance')], max_length=20)),
                        ('usage_period_start', models.DateField(blank=True, null=True)),
                        ('usage_period_end', models.DateField(blank=True, null=True)),
                        ('share_bp', models.PositiveIntegerField()),
                        ('gross_exact', models.DecimalField(decimal_places=18, max_digits=40)),
                        ('commission_exact', models.DecimalField(decimal_places=18, max_digits=40)),
                        ('amount_minor', models.BigIntegerField()),
                        ('entitled_after', models.DecimalField(decimal_places=18, max_digits=40)),
                        ('allocated_after', models.BigIntegerField()),
                        ('accrued_on', models.DateField()),
                        ('collected_on', models.DateField(blank=True, help_text='Set by collections.', null=True)),
                    ],
                    options={
                        'db_table': 'royalties_statementline',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='AgreementPosition',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=3)),
                        ('fee_minor', models.BigIntegerField(default=0)),
                        ('recoupable', models.BooleanField(default=False)),
                        ('fee_paid_on', models.DateField(blank=True, null=True)),
                        ('unrecouped_advance_minor', models.BigIntegerField(default=0)),
                        ('recouped_minor', models.BigIntegerField(default=0)),
                        ('updated_at', core.fields.ClockDateTimeField(auto_now=True)),
                        ('agreement', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.agreement')),
                        ('fee_entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.journalentry')),
                    ],
                    options={
                        'db_table': 'royalties_agreementposition',
                        'ordering': ['agreement_id'],
                    },
                ),
                migrations.CreateModel(
                    name='CarryBalance',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('entitled_exact', models.DecimalField(decimal_places=18, max_digits=40)),
                        ('allocated_minor', models.BigIntegerField()),
                        ('updated_at', core.fields.ClockDateTimeField(auto_now=True)),
                        ('agreement', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.agreement')),
                        ('holder', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation')),
                        ('work', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.work')),
                    ],
                    options={
                        'db_table': 'royalties_carrybalance',
                        'ordering': ['agreement_id', 'work_id', 'holder_id'],
                    },
                ),
                migrations.CreateModel(
                    name='RatedLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('metric', models.CharField(max_length=30)),
                        ('kind', models.CharField(choices=[('usage', 'Usage royalties'), ('adjustment', 'Adjustment for a corrected report'), ('credit', 'Credit for a corrected report'), ('guarantee_shortfall', 'Minimum guarantee shortfall'), ('upfront_fee', 'Upfront fee'), ('advance', 'Recoupable advance')], max_length=20)),
                        ('usage_period_start', models.DateField()),
                        ('usage_period_end', models.DateField()),
                        ('quantity', models.BigIntegerField(help_text='Summed quantity (revenue: minor units).')),
                        ('settled_quantity', models.BigIntegerField(default=0, help_text='For an adjustment: the quantity settled before.')),
                        ('line_count', models.BigIntegerField(default=0, help_text='Usage lines summed.')),
                        ('rate_minor', models.DecimalField(blank=True, decimal_places=10, max_digits=24, null=True)),
                        ('revenue_share_bp', models.PositiveIntegerField(blank=True, null=True)),
                        ('exact_minor', models.DecimalField(decimal_places=18, max_digits=40)),
                        ('agreement', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.agreement')),
                        ('work', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.work')),
                    ],
                    options={
                        'db_table': 'royalties_ratedline',
                        'ordering': ['run_id', 'agreement_id', 'work_id', 'metric', 'usage_period_start'],
                    },
                ),
                migrations.CreateModel(
                    name='SettlementAgreement',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('chunk_no', models.PositiveIntegerField()),
                        ('usage_period_start', models.DateField()),
                        ('usage_period_end', models.DateField(help_text='First day after the usage period.')),
                        ('currency', models.CharField(max_length=3)),
                        ('terms', models.JSONField(help_text='The pricing the run used, frozen.')),
                        ('splits_sha256', models.CharField(help_text='Hash of the split snapshot used.', max_length=64)),
                        ('unrecouped_before_minor', models.BigIntegerField(default=0)),
                        ('charge_minor', models.BigIntegerField(default=0)),
                        ('credit_minor', models.BigIntegerField(default=0)),
                        ('recouped_minor', models.BigIntegerField(default=0)),
                        ('advance_restored_minor', models.BigIntegerField(default=0)),
                        ('shortfall_minor', models.BigIntegerField(default=0)),
                        ('invoiced_minor', models.BigIntegerField(default=0)),
                        ('commission_minor', models.BigIntegerField(default=0)),
                        ('allocated_minor', models.BigIntegerField(default=0)),
                        ('settled_at', models.DateTimeField(blank=True, null=True)),
                        ('agreement', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.agreement')),
                        ('journal_entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.journalentry')),
                    ],
                    options={
                        'db_table': 'royalties_settlementagreement',
                        'ordering': ['run_id', 'agreement_id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards, elidable=False),
    ]
