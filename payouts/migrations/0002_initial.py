# The rest of the models taken over from royalties: foreign keys across the new apps.

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0005_stripe_models_move_to_payments'),
        ('ledger', '0001_initial'),
        ('payouts', '0001_initial'),
        ('pghistory', '0007_auto_20250421_0444'),
        ('settlement', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name='collection',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='collections', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='collectionevent',
                    name='journal_entry',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='collectionevent',
                    name='licensee',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='collectionevent',
                    name='pgh_context',
                    field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
                ),
                migrations.AddField(
                    model_name='collectionevent',
                    name='pgh_obj',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='payouts.collection'),
                ),
                migrations.AddField(
                    model_name='collectionevent',
                    name='run',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='payout',
                    name='holder',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='payout',
                    name='journal_entry',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='payout',
                    name='requested_by',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='payout',
                    name='run',
                    field=models.ForeignKey(blank=True, help_text='The run whose collections funded it; empty for an on-demand payout.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payouts', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='payoutevent',
                    name='holder',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='payoutevent',
                    name='journal_entry',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='ledger.journalentry'),
                ),
                migrations.AddField(
                    model_name='payoutevent',
                    name='pgh_context',
                    field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
                ),
                migrations.AddField(
                    model_name='payoutevent',
                    name='pgh_obj',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='payouts.payout'),
                ),
                migrations.AddField(
                    model_name='payoutevent',
                    name='requested_by',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='payoutevent',
                    name='run',
                    field=models.ForeignKey(blank=True, db_constraint=False, help_text='The run whose collections funded it; empty for an on-demand payout.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='settlement.settlementrun'),
                ),
                migrations.AddField(
                    model_name='payoutthreshold',
                    name='holder',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='payoutthresholdevent',
                    name='holder',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='accounts.organisation'),
                ),
                migrations.AddField(
                    model_name='payoutthresholdevent',
                    name='pgh_context',
                    field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
                ),
                migrations.AddField(
                    model_name='payoutthresholdevent',
                    name='pgh_obj',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='payouts.payoutthreshold'),
                ),
                migrations.AddIndex(
                    model_name='collection',
                    index=models.Index(fields=['status', 'next_attempt_at'], name='collection_due_idx'),
                ),
                migrations.AddConstraint(
                    model_name='collection',
                    constraint=models.UniqueConstraint(fields=('licensee', 'run', 'currency'), name='collection_unique_per_run'),
                ),
                migrations.AddConstraint(
                    model_name='collection',
                    constraint=models.CheckConstraint(condition=models.Q(('amount_due_minor__gt', 0)), name='collection_positive'),
                ),
                migrations.AddConstraint(
                    model_name='collection',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='collection_currency_iso'),
                ),
                migrations.AddConstraint(
                    model_name='collection',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'paid'), _negated=True), models.Q(('charge_id__isnull', False), models.Q(('charge_id', ''), _negated=True)), _connector='OR'), name='collection_paid_has_charge'),
                ),
                migrations.AddConstraint(
                    model_name='collection',
                    constraint=models.CheckConstraint(condition=models.Q(('stripe_fee_minor__gte', 0)), name='collection_fee_not_negative'),
                ),
                migrations.AddIndex(
                    model_name='payout',
                    index=models.Index(fields=['status', 'next_attempt_at'], name='payout_due_idx'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.UniqueConstraint(condition=models.Q(('run__isnull', False)), fields=('holder', 'run', 'currency'), name='payout_unique_per_run'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['scheduled', 'sent'])), fields=('holder', 'currency'), name='payout_one_open_per_holder'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(('amount_minor__gt', 0)), name='payout_positive'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(('reversed_minor__gte', 0), ('reversed_minor__lte', models.F('amount_minor'))), name='payout_reversed_within_amount'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ['paid', 'reversed']), _negated=True), models.Q(('transfer_id__isnull', False), models.Q(('transfer_id', ''), _negated=True)), _connector='OR'), name='payout_paid_has_transfer'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'failed'), _negated=True), models.Q(('failure_reason', ''), _negated=True), _connector='OR'), name='payout_failed_has_reason'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='payout_currency_iso'),
                ),
                migrations.AddConstraint(
                    model_name='payoutthreshold',
                    constraint=models.UniqueConstraint(fields=('holder', 'currency'), name='payout_threshold_unique'),
                ),
                migrations.AddConstraint(
                    model_name='payoutthreshold',
                    constraint=models.CheckConstraint(condition=models.Q(('minimum_minor__gte', 0)), name='payout_threshold_not_negative'),
                ),
                migrations.AddConstraint(
                    model_name='payoutthreshold',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='payout_threshold_currency_iso'),
                ),
            ],
            database_operations=[],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='collection',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "royalties_collectionevent" ("amount_due_minor", "attempts", "charge_id", "checkout_session_id", "checkout_url", "collected_at", "created_at", "currency", "failure_reason", "id", "journal_entry_id", "last_reminded_at", "licensee_id", "next_attempt_at", "payment_intent_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reminders_sent", "run_id", "status", "stripe_fee_minor") VALUES (NEW."amount_due_minor", NEW."attempts", NEW."charge_id", NEW."checkout_session_id", NEW."checkout_url", NEW."collected_at", NEW."created_at", NEW."currency", NEW."failure_reason", NEW."id", NEW."journal_entry_id", NEW."last_reminded_at", NEW."licensee_id", NEW."next_attempt_at", NEW."payment_intent_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."reminders_sent", NEW."run_id", NEW."status", NEW."stripe_fee_minor"); RETURN NULL;', hash='5ae6fb99dbcd549bd27f54c752f03d3780f7588f', operation='INSERT', pgid='pgtrigger_insert_insert_4d26c', table='royalties_collection', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='collection',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "royalties_collectionevent" ("amount_due_minor", "attempts", "charge_id", "checkout_session_id", "checkout_url", "collected_at", "created_at", "currency", "failure_reason", "id", "journal_entry_id", "last_reminded_at", "licensee_id", "next_attempt_at", "payment_intent_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reminders_sent", "run_id", "status", "stripe_fee_minor") VALUES (NEW."amount_due_minor", NEW."attempts", NEW."charge_id", NEW."checkout_session_id", NEW."checkout_url", NEW."collected_at", NEW."created_at", NEW."currency", NEW."failure_reason", NEW."id", NEW."journal_entry_id", NEW."last_reminded_at", NEW."licensee_id", NEW."next_attempt_at", NEW."payment_intent_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."reminders_sent", NEW."run_id", NEW."status", NEW."stripe_fee_minor"); RETURN NULL;', hash='66a3bb9e3d57d5010189dec759bf114b4d9a95a4', operation='UPDATE', pgid='pgtrigger_update_update_1ab97', table='royalties_collection', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='payout',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "royalties_payoutevent" ("amount_minor", "attempts", "created_at", "currency", "destination_account_id", "failure_reason", "holder_id", "id", "idempotency_key", "journal_entry_id", "next_attempt_at", "on_hold", "paid_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_by_id", "reversed_minor", "run_id", "sent_at", "source_transaction", "status", "transfer_group", "transfer_id") VALUES (NEW."amount_minor", NEW."attempts", NEW."created_at", NEW."currency", NEW."destination_account_id", NEW."failure_reason", NEW."holder_id", NEW."id", NEW."idempotency_key", NEW."journal_entry_id", NEW."next_attempt_at", NEW."on_hold", NEW."paid_at", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."requested_by_id", NEW."reversed_minor", NEW."run_id", NEW."sent_at", NEW."source_transaction", NEW."status", NEW."transfer_group", NEW."transfer_id"); RETURN NULL;', hash='c157d536333f86ad9c3a0989019a4dbc80f8f3e8', operation='INSERT', pgid='pgtrigger_insert_insert_aabc0', table='royalties_payout', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='payout',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "royalties_payoutevent" ("amount_minor", "attempts", "created_at", "currency", "destination_account_id", "failure_reason", "holder_id", "id", "idempotency_key", "journal_entry_id", "next_attempt_at", "on_hold", "paid_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "requested_by_id", "reversed_minor", "run_id", "sent_at", "source_transaction", "status", "transfer_group", "transfer_id") VALUES (NEW."amount_minor", NEW."attempts", NEW."created_at", NEW."currency", NEW."destination_account_id", NEW."failure_reason", NEW."holder_id", NEW."id", NEW."idempotency_key", NEW."journal_entry_id", NEW."next_attempt_at", NEW."on_hold", NEW."paid_at", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."requested_by_id", NEW."reversed_minor", NEW."run_id", NEW."sent_at", NEW."source_transaction", NEW."status", NEW."transfer_group", NEW."transfer_id"); RETURN NULL;', hash='4913f73318c3c304848d9daf3e74cfe4a53aeb48', operation='UPDATE', pgid='pgtrigger_update_update_a42d4', table='royalties_payout', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='payoutthreshold',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "royalties_payoutthresholdevent" ("currency", "holder_id", "id", "minimum_minor", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "updated_at") VALUES (NEW."currency", NEW."holder_id", NEW."id", NEW."minimum_minor", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."updated_at"); RETURN NULL;', hash='d169447aa1230eab19a2f7b10c585c1fb372d344', operation='INSERT', pgid='pgtrigger_insert_insert_0eb76', table='royalties_payoutthreshold', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='payoutthreshold',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "royalties_payoutthresholdevent" ("currency", "holder_id", "id", "minimum_minor", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "updated_at") VALUES (NEW."currency", NEW."holder_id", NEW."id", NEW."minimum_minor", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."updated_at"); RETURN NULL;', hash='abf5d211570ef424eec4257b32e7eb003f8930a5', operation='UPDATE', pgid='pgtrigger_update_update_1032a', table='royalties_payoutthreshold', when='AFTER')),
        ),
    ]
