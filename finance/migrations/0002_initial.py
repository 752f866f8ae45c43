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
        ('finance', '0001_initial'),
        ('ledger', '0001_initial'),
        ('pghistory', '0007_auto_20250421_0444'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='adjusting_entry',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='assignee',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='entry',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='resolved_by',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='reconciliationcomment',
                    name='exception',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='comments', to='finance.reconciliationexception'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='adjusting_entry',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='assignee',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='entry',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='pgh_context',
                    field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='pgh_obj',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='finance.reconciliationexception'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='resolved_by',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='reconciliationrun',
                    name='created_by',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='last_seen_run',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='finance.reconciliationrun'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='run',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='finance.reconciliationrun'),
                ),
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='last_seen_run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='exceptions_seen', to='finance.reconciliationrun'),
                ),
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='exceptions_found', to='finance.reconciliationrun'),
                ),
                migrations.AddIndex(
                    model_name='stripebalancetransaction',
                    index=models.Index(fields=['source_id'], name='stripe_btxn_source_idx'),
                ),
                migrations.AddIndex(
                    model_name='stripebalancetransaction',
                    index=models.Index(fields=['created'], name='stripe_btxn_created_idx'),
                ),
                migrations.AddConstraint(
                    model_name='stripebalancetransaction',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='stripe_balance_txn_currency_iso'),
                ),
                migrations.AddConstraint(
                    model_name='stripebalancetransaction',
                    constraint=models.CheckConstraint(condition=models.Q(('net_minor', django.db.models.expressions.CombinedExpression(models.F('amount_minor'), '-', models.F('fee_minor')))), name='stripe_balance_txn_net_is_amount_less_fee'),
                ),
                migrations.AddField(
                    model_name='reconciliationexceptionevent',
                    name='balance_transaction',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='finance.stripebalancetransaction'),
                ),
                migrations.AddField(
                    model_name='reconciliationexception',
                    name='balance_transaction',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='finance.stripebalancetransaction'),
                ),
                migrations.AddConstraint(
                    model_name='reconciliationrun',
                    constraint=models.CheckConstraint(condition=models.Q(('window_end__gt', models.F('window_start'))), name='reconciliation_run_window_order'),
                ),
                migrations.AddIndex(
                    model_name='reconciliationexception',
                    index=models.Index(fields=['status', 'occurred_on'], name='recon_exc_status_date'),
                ),
                migrations.AddConstraint(
                    model_name='reconciliationexception',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'resolved'), _negated=True), fields=('stripe_object_id', 'kind'), name='reconciliation_exception_one_unresolved'),
                ),
                migrations.AddConstraint(
                    model_name='reconciliationexception',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'resolved'), _negated=True), models.Q(('resolved_at__isnull', False), ('resolved_by__isnull', False), models.Q(('resolution_reason', ''), _negated=True)), _connector='OR'), name='reconciliation_exception_resolved_has_who_and_why'),
                ),
                migrations.AddConstraint(
                    model_name='reconciliationexception',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'assigned'), _negated=True), ('assignee__isnull', False), _connector='OR'), name='reconciliation_exception_assigned_has_assignee'),
                ),
            ],
            database_operations=[],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='reconciliationexception',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "royalties_reconciliationexceptionevent" ("actual_minor", "adjusting_entry_id", "assignee_id", "balance_transaction_id", "created_at", "currency", "detail", "entry_id", "expected_minor", "id", "kind", "last_seen_run_id", "occurred_on", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "resolution_reason", "resolved_at", "resolved_by_id", "run_id", "status", "stripe_object_id") VALUES (NEW."actual_minor", NEW."adjusting_entry_id", NEW."assignee_id", NEW."balance_transaction_id", NEW."created_at", NEW."currency", NEW."detail", NEW."entry_id", NEW."expected_minor", NEW."id", NEW."kind", NEW."last_seen_run_id", NEW."occurred_on", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."resolution_reason", NEW."resolved_at", NEW."resolved_by_id", NEW."run_id", NEW."status", NEW."stripe_object_id"); RETURN NULL;', hash='e47d235d3752d381df8b4702329f1cad79e84dcb', operation='INSERT', pgid='pgtrigger_insert_insert_ed119', table='royalties_reconciliationexception', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='reconciliationexception',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "royalties_reconciliationexceptionevent" ("actual_minor", "adjusting_entry_id", "assignee_id", "balance_transaction_id", "created_at", "currency", "detail", "entry_id", "expected_minor", "id", "kind", "last_seen_run_id", "occurred_on", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "resolution_reason", "resolved_at", "resolved_by_id", "run_id", "status", "stripe_object_id") VALUES (NEW."actual_minor", NEW."adjusting_entry_id", NEW."assignee_id", NEW."balance_transaction_id", NEW."created_at", NEW."currency", NEW."detail", NEW."entry_id", NEW."expected_minor", NEW."id", NEW."kind", NEW."last_seen_run_id", NEW."occurred_on", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."resolution_reason", NEW."resolved_at", NEW."resolved_by_id", NEW."run_id", NEW."status", NEW."stripe_object_id"); RETURN NULL;', hash='f4d2a4a345d6f121aca4ea43d6727837d36fca47', operation='UPDATE', pgid='pgtrigger_update_update_b73e5', table='royalties_reconciliationexception', when='AFTER')),
        ),
    ]
