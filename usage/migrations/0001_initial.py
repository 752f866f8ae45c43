# The usage models, taken over from the royalties app (royalties/migrations/0008 lets them go).
# Django's state changes, and pgtrigger's triggers are installed again under this app's name;
# the tables keep their royalties_* names (db_table), their rows, constraints and the raw-SQL
# constraint triggers. Their content types follow them (admin permissions and history).

import core.clock
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


MODELS = ['usageline', 'usagereport']


def _relabel(apps, schema_editor, old, new):
    # A database migrated from scratch has no content types yet here: nothing to do.
    content_types = apps.get_model('contenttypes', 'ContentType').objects.using(
        schema_editor.connection.alias
    )
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)


def content_types_forwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'royalties', 'usage')


def content_types_backwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'usage', 'royalties')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('royalties', '0008_models_move_to_their_apps'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('accounts', '0005_stripe_models_move_to_payments'),
        ('catalog', '0004_alter_catalogue_created_at_and_more'),
        ('marketplace', '0003_alter_checkoutattempt_created_at_and_more'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='UsageReport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('report_id', models.CharField(help_text="The licensee's id for the report.", max_length=100)),
                        ('period_start', models.DateField(help_text='First day of the month reported (UTC).')),
                        ('period_end', models.DateField(help_text='First day after the month reported (exclusive).')),
                        ('version', models.PositiveIntegerField(default=1)),
                        ('is_current', models.BooleanField(default=True)),
                        ('status', models.CharField(choices=[('receiving', 'Receiving lines'), ('accepted', 'Accepted'), ('partially_accepted', 'Partially accepted (bad lines left out)')], default='accepted', max_length=20)),
                        ('currency', models.CharField(max_length=3)),
                        ('line_count', models.PositiveIntegerField(default=0, help_text='Lines stored.')),
                        ('rejected_line_count', models.PositiveIntegerField(default=0, help_text='Bad lines left out (partial acceptance only).')),
                        ('errors', models.JSONField(blank=True, default=list, help_text='The first bad lines left out: line, field, reason.')),
                        ('content_sha256', models.CharField(blank=True, default='', help_text='SHA-256 of the decompressed content.', max_length=64)),
                        ('source', models.CharField(choices=[('api', 'API (JSON Lines)'), ('web', 'Web upload (CSV)')], default='api', max_length=10)),
                        ('submitted_at', models.DateTimeField(default=core.clock.now)),
                        ('agreement', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='usage_reports', to='marketplace.agreement')),
                        ('submitted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('submitted_with_key', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.apikey')),
                        ('supersedes', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='superseded_by', to='usage.usagereport')),
                    ],
                    options={
                        'db_table': 'royalties_usagereport',
                        'ordering': ['-period_start', 'agreement_id', 'report_id', '-version'],
                    },
                ),
                migrations.CreateModel(
                    name='UsageLine',
                    fields=[
                        ('pk', models.CompositePrimaryKey('report', 'line_no', blank=True, editable=False, primary_key=True, serialize=False)),
                        ('line_no', models.PositiveIntegerField(help_text='Line number in the submitted file.')),
                        ('metric', models.CharField(choices=[('tokens_trained', 'Tokens trained (rate per 1,000 tokens)'), ('training_examples', 'Training examples (rate per example)'), ('retrievals', 'Retrievals (rate per retrieval)'), ('outputs_attributed', 'Attributed outputs (rate per output)'), ('revenue', 'Revenue in minor units (priced by revenue share)')], max_length=20)),
                        ('quantity', models.PositiveBigIntegerField()),
                        ('use', models.CharField(blank=True, choices=[('ai-train', 'Pre-training'), ('ai-finetune', 'Fine-tuning'), ('ai-input', 'Retrieval / grounding (RAG)'), ('ai-index', 'Search indexing'), ('synthetic-likeness', 'Voice or style imitation')], default='', help_text='As reported.', max_length=30)),
                        ('work', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.work')),
                        ('report', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='usage.usagereport')),
                    ],
                    options={
                        'db_table': 'royalties_usageline',
                        'ordering': ['report_id', 'line_no'],
                    },
                ),
                migrations.AddIndex(
                    model_name='usagereport',
                    index=models.Index(fields=['agreement', 'period_start'], name='usage_report_period_idx'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.UniqueConstraint(fields=('agreement', 'report_id', 'version'), name='usage_report_version_unique'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.UniqueConstraint(condition=models.Q(('is_current', True)), fields=('agreement', 'report_id'), name='usage_report_one_current_version'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.CheckConstraint(condition=models.Q(('period_start__day', 1), ('period_end__day', 1), ('period_end__gt', models.F('period_start'))), name='usage_report_period_is_whole_months'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('version', 1), ('supersedes__isnull', True)), models.Q(('version__gt', 1), ('supersedes__isnull', False)), _connector='OR'), name='usage_report_version_supersedes'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='usage_report_currency_iso'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'partially_accepted'), ('rejected_line_count__gt', 0)), models.Q(models.Q(('status', 'partially_accepted'), _negated=True), ('rejected_line_count', 0)), _connector='OR'), name='usage_report_partial_iff_rejected_lines'),
                ),
                migrations.AddConstraint(
                    model_name='usagereport',
                    constraint=models.CheckConstraint(condition=models.Q(('report_id__regex', '^\\S(.*\\S)?$')), name='usage_report_id_trimmed'),
                ),
                migrations.AddConstraint(
                    model_name='usageline',
                    constraint=models.CheckConstraint(condition=models.Q(('metric__in', ['tokens_trained', 'training_examples', 'retrievals', 'outputs_attributed', 'revenue'])), name='usage_line_metric_known'),
                ),
            ],
            database_operations=[],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='usagereport',
            trigger=pgtrigger.compiler.Trigger(name='usage_report_never_deleted', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;", hash='7f91b290af04c57234aceecfb54adc5662b2d93b', operation='DELETE', pgid='pgtrigger_usage_report_never_deleted_f7ee1', table='royalties_usagereport', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='usagereport',
            trigger=pgtrigger.compiler.Trigger(name='usage_report_sealed', sql=pgtrigger.compiler.UpsertTriggerSql(declare='DECLARE mutable text[];', func="\n                    mutable := '{is_current,submitted_by_id,submitted_with_key_id}';\n                    IF OLD.status <> 'receiving' AND (\n                        (to_jsonb(OLD) - mutable) IS DISTINCT FROM (to_jsonb(NEW) - mutable)\n                        OR (NEW.is_current AND NOT OLD.is_current)\n                    ) THEN\n                        RAISE EXCEPTION 'usage report %: versions are never edited; '\n                            'only is_current may turn false when a newer version supersedes it',\n                            OLD.id USING ERRCODE = 'check_violation';\n                    END IF;\n                    RETURN NEW;\n                ", hash='f5c719db396dc71a2612b38673b0c6d0235e2d2d', operation='UPDATE', pgid='pgtrigger_usage_report_sealed_aa457', table='royalties_usagereport', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='usagereport',
            trigger=pgtrigger.compiler.Trigger(name='usage_report_committed_complete', sql=pgtrigger.compiler.UpsertTriggerSql(constraint='CONSTRAINT', declare='DECLARE bad record;', func="\n                    IF EXISTS (\n                        SELECT 1 FROM royalties_usagereport r\n                        JOIN marketplace_agreement a ON a.id = r.agreement_id\n                        WHERE r.id = NEW.id\n                          AND (r.status = 'receiving' OR r.currency <> upper(a.currency))\n                    ) THEN\n                        RAISE EXCEPTION 'usage report %: committed while receiving lines, or in '\n                            'a currency other than its agreement''s', NEW.id\n                            USING ERRCODE = 'check_violation';\n                    END IF;\n                    -- Set-based: the report's distinct works less the agreement's (a hash).\n                    SELECT work_id INTO bad FROM (\n                        SELECT work_id FROM royalties_usageline WHERE report_id = NEW.id\n                        EXCEPT\n                        SELECT work_id FROM marketplace_agreementwork\n                        WHERE agreement_id = NEW.agreement_id\n                    ) unlicensed\n                    LIMIT 1;\n                    IF FOUND THEN\n                        RAISE EXCEPTION 'usage report %: work % is not licensed by the '\n                            'report''s agreement', NEW.id, bad.work_id\n                            USING ERRCODE = 'foreign_key_violation';\n                    END IF;\n                    RETURN NULL;\n                ", hash='f2f4fef5f82ed67f4bca885dfe9baf7072a1ec16', operation='INSERT', pgid='pgtrigger_usage_report_committed_complete_4f03f', table='royalties_usagereport', timing='DEFERRABLE INITIALLY DEFERRED', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='usageline',
            trigger=pgtrigger.compiler.Trigger(name='usage_line_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='59746e8e26004b6bc5538de92bf048b2fae15985', operation='UPDATE OR DELETE', pgid='pgtrigger_usage_line_append_only_74035', table='royalties_usageline', when='BEFORE')),
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards, elidable=False),
    ]
