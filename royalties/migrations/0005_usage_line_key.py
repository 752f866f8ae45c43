# Usage lines keyed by (report, line number): one index instead of two, growing at its right
# edge; the report's deferred check now also verifies its lines' works (once per report,
# instead of a statement-level trigger over every INSERT's rows). The table is recreated:
# Django cannot turn a single-column primary key into a composite one in place, and no
# deployment has usage lines yet.

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0002_catalogue_capability'),
        ('royalties', '0004_settlement'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='usagereport',
            name='usage_report_committed_complete',
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='usagereport',
            trigger=pgtrigger.compiler.Trigger(name='usage_report_committed_complete', sql=pgtrigger.compiler.UpsertTriggerSql(constraint='CONSTRAINT', declare='DECLARE bad record;', func="\n                    IF EXISTS (\n                        SELECT 1 FROM royalties_usagereport r\n                        JOIN marketplace_agreement a ON a.id = r.agreement_id\n                        WHERE r.id = NEW.id\n                          AND (r.status = 'receiving' OR r.currency <> upper(a.currency))\n                    ) THEN\n                        RAISE EXCEPTION 'usage report %: committed while receiving lines, or in '\n                            'a currency other than its agreement''s', NEW.id\n                            USING ERRCODE = 'check_violation';\n                    END IF;\n                    -- Set-based: the report's distinct works less the agreement's (a hash).\n                    SELECT work_id INTO bad FROM (\n                        SELECT work_id FROM royalties_usageline WHERE report_id = NEW.id\n                        EXCEPT\n                        SELECT work_id FROM marketplace_agreementwork\n                        WHERE agreement_id = NEW.agreement_id\n                    ) unlicensed\n                    LIMIT 1;\n                    IF FOUND THEN\n                        RAISE EXCEPTION 'usage report %: work % is not licensed by the '\n                            'report''s agreement', NEW.id, bad.work_id\n                            USING ERRCODE = 'foreign_key_violation';\n                    END IF;\n                    RETURN NULL;\n                ", hash='a063f13d725d6ddb9210171b999341fe08fb5e51', operation='INSERT', pgid='pgtrigger_usage_report_committed_complete_4ca01', table='royalties_usagereport', timing='DEFERRABLE INITIALLY DEFERRED', when='AFTER')),
        ),
        migrations.DeleteModel(
            name='UsageLine',
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
                ('report', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='royalties.usagereport')),
            ],
            options={
                'ordering': ['report_id', 'line_no'],
            },
        ),
        migrations.AddConstraint(
            model_name='usageline',
            constraint=models.CheckConstraint(condition=models.Q(('metric__in', ['tokens_trained', 'training_examples', 'retrievals', 'outputs_attributed', 'revenue'])), name='usage_line_metric_known'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='usageline',
            trigger=pgtrigger.compiler.Trigger(name='usage_line_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='a6efba4d3bf18990c7071aeee5c394b35b9038f7', operation='UPDATE OR DELETE', pgid='pgtrigger_usage_line_append_only_853fc', table='royalties_usageline', when='BEFORE')),
        ),
    ]
