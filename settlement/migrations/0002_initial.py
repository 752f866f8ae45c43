# The rest of the models taken over from royalties: foreign keys across the new apps.

import django.db.models.deletion
import django.db.models.expressions
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0005_stripe_models_move_to_payments'),
        ('catalog', '0004_alter_catalogue_created_at_and_more'),
        ('marketplace', '0003_alter_checkoutattempt_created_at_and_more'),
        ('settlement', '0001_initial'),
        ('usage', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name='settlementreport',
                    name='adjusts',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='usage.usagereport'),
                ),
                migrations.AddField(
                    model_name='settlementreport',
                    name='agreement',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.agreement'),
                ),
                migrations.AddField(
                    model_name='settlementreport',
                    name='report',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='usage.usagereport'),
                ),
                migrations.AddField(
                    model_name='settlementrun',
                    name='created_by',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='settlementreport',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reports', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='settlementchunk',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='chunks', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='settlementagreement',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='agreements', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='ratedline',
                    name='run',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='statement',
                    name='holder',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='statements', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='statement',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='statements', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='statementline',
                    name='agreement',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.agreement'),
                ),
                migrations.AddField(
                    model_name='statementline',
                    name='holder',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='statementline',
                    name='run',
                    field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='statementline',
                    name='work',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.work'),
                ),
                migrations.AddConstraint(
                    model_name='agreementposition',
                    constraint=models.CheckConstraint(condition=models.Q(('unrecouped_advance_minor__gte', 0), ('recouped_minor__gte', 0), ('fee_minor__gte', 0), ('unrecouped_advance_minor__lte', models.F('fee_minor'))), name='agreement_position_amounts_valid'),
                ),
                migrations.AddConstraint(
                    model_name='carrybalance',
                    constraint=models.UniqueConstraint(fields=('agreement', 'work', 'holder'), name='carry_balance_unique'),
                ),
                migrations.AddConstraint(
                    model_name='carrybalance',
                    constraint=models.CheckConstraint(condition=models.Q(('allocated_minor__gte', 0), ('entitled_exact__gte', 0), ('allocated_minor__lt', django.db.models.expressions.CombinedExpression(models.F('entitled_exact'), '+', models.Value(1)))), name='carry_balance_never_a_unit_ahead'),
                ),
                migrations.AddConstraint(
                    model_name='settlementrun',
                    constraint=models.CheckConstraint(condition=models.Q(('period_end__gt', models.F('period_start'))), name='settlement_run_period_order'),
                ),
                migrations.AddIndex(
                    model_name='settlementreport',
                    index=models.Index(fields=['agreement', 'usage_period_start'], name='settlement_report_period_idx'),
                ),
                migrations.AddConstraint(
                    model_name='settlementreport',
                    constraint=models.UniqueConstraint(fields=('run', 'report'), name='settlement_report_unique'),
                ),
                migrations.AddConstraint(
                    model_name='settlementchunk',
                    constraint=models.UniqueConstraint(fields=('run', 'chunk_no'), name='settlement_chunk_unique'),
                ),
                migrations.AddConstraint(
                    model_name='settlementagreement',
                    constraint=models.UniqueConstraint(fields=('run', 'agreement'), name='settlement_agreement_unique'),
                ),
                migrations.AddConstraint(
                    model_name='settlementagreement',
                    constraint=models.CheckConstraint(condition=models.Q(('invoiced_minor', django.db.models.expressions.CombinedExpression(models.F('commission_minor'), '+', models.F('allocated_minor')))), name='settlement_agreement_conserves'),
                ),
                migrations.AddIndex(
                    model_name='ratedline',
                    index=models.Index(fields=['run', 'agreement', 'work'], name='rated_line_run_work_idx'),
                ),
                migrations.AddIndex(
                    model_name='ratedline',
                    index=models.Index(fields=['agreement', 'usage_period_start'], name='rated_line_period_idx'),
                ),
                migrations.AddIndex(
                    model_name='statement',
                    index=models.Index(fields=['holder', 'currency', 'period_start'], name='stmt_holder'),
                ),
                migrations.AddConstraint(
                    model_name='statement',
                    constraint=models.UniqueConstraint(fields=('run', 'holder', 'currency'), name='statement_unique_per_run'),
                ),
                migrations.AddConstraint(
                    model_name='statement',
                    constraint=models.CheckConstraint(condition=models.Q(('closing_balance_minor', django.db.models.expressions.CombinedExpression(models.F('opening_balance_minor'), '+', models.F('earned_minor')))), name='statement_closing_is_opening_plus_earned'),
                ),
                migrations.AddIndex(
                    model_name='statementline',
                    index=models.Index(fields=['run', 'holder'], name='statement_line_run_holder_idx'),
                ),
                migrations.AddIndex(
                    model_name='statementline',
                    index=models.Index(fields=['holder', 'currency'], name='statement_line_holder_idx'),
                ),
                migrations.AddIndex(
                    model_name='statementline',
                    index=models.Index(fields=['agreement', 'work', 'holder', 'id'], name='statement_line_pair_idx'),
                ),
                migrations.AddIndex(
                    model_name='statementline',
                    index=models.Index(condition=models.Q(('run__isnull', True)), fields=['agreement', 'holder'], name='statement_line_unassigned_idx'),
                ),
                migrations.AddConstraint(
                    model_name='statementline',
                    constraint=models.CheckConstraint(condition=models.Q(('amount_minor__gte', 0), ('kind', 'credit'), _connector='OR'), name='statement_line_negative_only_credit'),
                ),
            ],
            database_operations=[],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='carrybalance',
            trigger=pgtrigger.compiler.Trigger(name='carry_rows_of_snapshot', sql=pgtrigger.compiler.UpsertTriggerSql(func="\n            IF EXISTS (\n                SELECT 1 FROM new_rows n\n                 WHERE NOT EXISTS (\n                     SELECT 1 FROM marketplace_agreementsplit s\n                      WHERE s.agreement_id = n.agreement_id AND s.work_id = n.work_id\n                             AND s.holder_id = n.holder_id)\n                    \n            ) THEN\n                RAISE EXCEPTION 'carry: a row names a work or holder outside its '\n                    'agreement''s snapshot, or no run' USING ERRCODE = 'foreign_key_violation';\n            END IF;\n            RETURN NULL;\n        ", hash='80570f893abaa41eba6ceed054f8747316e0546f', level='STATEMENT', operation='INSERT', pgid='pgtrigger_carry_rows_of_snapshot_f9fd0', referencing='REFERENCING NEW TABLE AS new_rows ', table='royalties_carrybalance', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='settlementreport',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='e72672d8ecbac9798fd96dfa23692686643b4afb', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_00848', table='royalties_settlementreport', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ratedline',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='1f2f4cec5119cee3058346d9663c1a3c35c9f0a4', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_348d8', table='royalties_ratedline', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ratedline',
            trigger=pgtrigger.compiler.Trigger(name='rated_line_rows_of_snapshot', sql=pgtrigger.compiler.UpsertTriggerSql(func="\n            IF EXISTS (\n                SELECT 1 FROM new_rows n\n                 WHERE NOT EXISTS (\n                     SELECT 1 FROM marketplace_agreementwork s\n                      WHERE s.agreement_id = n.agreement_id AND s.work_id = n.work_id\n                            )\n                    OR (n.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM royalties_settlementrun r WHERE r.id = n.run_id))\n            ) THEN\n                RAISE EXCEPTION 'rated_line: a row names a work or holder outside its '\n                    'agreement''s snapshot, or no run' USING ERRCODE = 'foreign_key_violation';\n            END IF;\n            RETURN NULL;\n        ", hash='87bfb8d465c76b73efa31cdfa754bf38d6fd3c24', level='STATEMENT', operation='INSERT', pgid='pgtrigger_rated_line_rows_of_snapshot_a9ee2', referencing='REFERENCING NEW TABLE AS new_rows ', table='royalties_ratedline', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statement',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='ceab64a9f077242531aa6f2056502e7eedeff8b3', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_e1364', table='royalties_statement', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statementline',
            trigger=pgtrigger.compiler.Trigger(name='statement_line_rows_of_snapshot', sql=pgtrigger.compiler.UpsertTriggerSql(func="\n            IF EXISTS (\n                SELECT 1 FROM new_rows n\n                 WHERE NOT EXISTS (\n                     SELECT 1 FROM marketplace_agreementsplit s\n                      WHERE s.agreement_id = n.agreement_id AND s.work_id = n.work_id\n                             AND s.holder_id = n.holder_id)\n                    OR (n.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM royalties_settlementrun r WHERE r.id = n.run_id))\n            ) THEN\n                RAISE EXCEPTION 'statement_line: a row names a work or holder outside its '\n                    'agreement''s snapshot, or no run' USING ERRCODE = 'foreign_key_violation';\n            END IF;\n            RETURN NULL;\n        ", hash='99a42fcd830a23497cf3197ac198cf4d11329143', level='STATEMENT', operation='INSERT', pgid='pgtrigger_statement_line_rows_of_snapshot_91b42', referencing='REFERENCING NEW TABLE AS new_rows ', table='royalties_statementline', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statementline',
            trigger=pgtrigger.compiler.Trigger(name='statement_line_no_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;", hash='9bcf25c334b30a89a967a436449bc555ba174312', operation='DELETE', pgid='pgtrigger_statement_line_no_delete_2ea52', table='royalties_statementline', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statementline',
            trigger=pgtrigger.compiler.Trigger(name='statement_line_run_set_once', sql=pgtrigger.compiler.UpsertTriggerSql(func="\n                    IF (OLD.run_id IS NOT NULL AND NEW.run_id IS DISTINCT FROM OLD.run_id)\n                       OR (to_jsonb(NEW) - 'run_id' - 'collected_on')\n                          <> (to_jsonb(OLD) - 'run_id' - 'collected_on') THEN\n                        RAISE EXCEPTION 'statement line %: only run (once) and collected_on may'\n                            ' change', OLD.id USING ERRCODE = 'check_violation';\n                    END IF;\n                    RETURN NEW;\n                ", hash='69555d0383fc711aaacb4b6a233e3d4b13875883', operation='UPDATE', pgid='pgtrigger_statement_line_run_set_once_c7f8d', table='royalties_statementline', when='BEFORE')),
        ),
    ]
