# The ledger models, taken over from the royalties app (royalties/migrations/0008 lets them go).
# Django's state changes, and pgtrigger's triggers are installed again under this app's name;
# the tables keep their royalties_* names (db_table), their rows, constraints and the raw-SQL
# constraint triggers. Their content types follow them (admin permissions and history).

import core.fields
import django.db.models.deletion
import django.db.models.functions.datetime
import django_fsm
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


MODELS = ['accountingperiod', 'accountingperiodevent', 'journalentry', 'journalleg', 'ledgeraccount']


def _relabel(apps, schema_editor, old, new):
    # A database migrated from scratch has no content types yet here: nothing to do.
    content_types = apps.get_model('contenttypes', 'ContentType').objects.using(
        schema_editor.connection.alias
    )
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)


def content_types_forwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'royalties', 'ledger')


def content_types_backwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'ledger', 'royalties')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('royalties', '0008_models_move_to_their_apps'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('accounts', '0005_stripe_models_move_to_payments'),
        ('pghistory', '0007_auto_20250421_0444'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AccountingPeriod',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('year', models.PositiveSmallIntegerField()),
                        ('month', models.PositiveSmallIntegerField()),
                        ('status', django_fsm.FSMField(choices=[('open', 'Open'), ('closed', 'Closed')], default='open', max_length=10)),
                        ('closed_at', models.DateTimeField(blank=True, help_text='When last closed.', null=True)),
                        ('reopened_at', models.DateTimeField(blank=True, help_text='When last reopened.', null=True)),
                        ('reopen_reason', models.TextField(blank=True, default='')),
                        ('closed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('reopened_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'royalties_accountingperiod',
                        'ordering': ['year', 'month'],
                    },
                ),
                migrations.CreateModel(
                    name='AccountingPeriodEvent',
                    fields=[
                        ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                        ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                        ('pgh_label', models.TextField(help_text='The event label.')),
                        ('id', models.BigIntegerField()),
                        ('year', models.PositiveSmallIntegerField()),
                        ('month', models.PositiveSmallIntegerField()),
                        ('status', django_fsm.FSMField(choices=[('open', 'Open'), ('closed', 'Closed')], default='open', max_length=10)),
                        ('closed_at', models.DateTimeField(blank=True, help_text='When last closed.', null=True)),
                        ('reopened_at', models.DateTimeField(blank=True, help_text='When last reopened.', null=True)),
                        ('reopen_reason', models.TextField(blank=True, default='')),
                        ('closed_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL)),
                        ('pgh_context', models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context')),
                        ('pgh_obj', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='ledger.accountingperiod')),
                        ('reopened_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'royalties_accountingperiodevent',
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='JournalEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('upfront_fee', 'Upfront fee'), ('advance', 'Recoupable advance'), ('usage_settlement', 'Usage settlement'), ('collection', 'Collection from licensee'), ('payout', 'Payout to rights holder'), ('payout_reversal', 'Payout reversal'), ('recovery', "Recovery of a holder's negative balance"), ('refund', 'Refund to licensee'), ('dispute', 'Dispute'), ('stripe_fee', 'Stripe fee'), ('adjustment', 'Adjustment'), ('reversal', 'Reversal of an entry')], max_length=20)),
                        ('effective_date', models.DateField(help_text='The accounting date; its calendar month (UTC) is the accounting period.')),
                        ('posted_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('memo', models.TextField(blank=True, default='')),
                        ('reference', models.CharField(help_text='Our business id of what is posted, e.g. "agreement:12", "payout:55".', max_length=100)),
                        ('stripe_object_id', models.CharField(blank=True, help_text='The Stripe object (ch_, tr_, re_, dp_, …) whose balance transaction this entry mirrors; reconciliation matches on it.', max_length=255, null=True)),
                        ('idempotency_key', models.CharField(help_text='Posting the same business event twice returns the first entry.', max_length=200)),
                        ('currency', models.CharField(help_text="ISO 4217, uppercase; every leg's too.", max_length=3)),
                        ('reverses', models.OneToOneField(blank=True, help_text='The entry this one reverses (an entry is reversed at most once).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversed_by', to='ledger.journalentry')),
                    ],
                    options={
                        'verbose_name_plural': 'journal entries',
                        'db_table': 'royalties_journalentry',
                        'ordering': ['effective_date', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='LedgerAccount',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('code', models.CharField(choices=[('licensee_receivable', 'Licensee receivable'), ('platform_cash', 'Platform cash at Stripe'), ('holder_recoverable', 'Rights holder recoverable'), ('holder_pending', 'Rights holder pending (earned, not yet collected)'), ('holder_payable', 'Rights holder payable'), ('platform_commission', 'Platform commission revenue'), ('platform_equity', 'Platform equity'), ('stripe_fees', 'Stripe fees'), ('dispute_losses', 'Dispute losses'), ('write_offs', 'Write-offs'), ('advance_unrecouped', 'Unrecouped advance (memo)'), ('advance_unrecouped_contra', 'Unrecouped advance contra (memo)')], max_length=40)),
                        ('kind', models.CharField(choices=[('asset', 'Asset'), ('liability', 'Liability'), ('equity', 'Equity'), ('revenue', 'Revenue'), ('expense', 'Expense'), ('memo', 'Memo (off balance sheet)')], editable=False, max_length=10)),
                        ('currency', models.CharField(help_text='ISO 4217, uppercase.', max_length=3)),
                        ('subledger_key', models.CharField(blank=True, default='', help_text='Splits a party\'s account further, e.g. "agreement:12"; empty otherwise.', max_length=100)),
                        ('created_at', core.fields.ClockDateTimeField(auto_now_add=True)),
                        ('organisation', models.ForeignKey(blank=True, help_text="The party of a per-party account; empty for the platform's own accounts.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ledger_accounts', to='accounts.organisation')),
                    ],
                    options={
                        'db_table': 'royalties_ledgeraccount',
                        'ordering': ['code', 'organisation_id', 'currency', 'subledger_key'],
                    },
                ),
                migrations.CreateModel(
                    name='JournalLeg',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('amount_minor', models.BigIntegerField()),
                        ('currency', models.CharField(help_text="Equal to the entry's and the account's currency.", max_length=3)),
                        ('memo', models.CharField(blank=True, default='', max_length=200)),
                        ('entry', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='legs', to='ledger.journalentry')),
                        ('account', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='legs', to='ledger.ledgeraccount')),
                    ],
                    options={
                        'db_table': 'royalties_journalleg',
                        'ordering': ['entry_id', 'id'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='accountingperiod',
                    constraint=models.UniqueConstraint(fields=('year', 'month'), name='accounting_period_unique'),
                ),
                migrations.AddConstraint(
                    model_name='accountingperiod',
                    constraint=models.CheckConstraint(condition=models.Q(('month__gte', 1), ('month__lte', 12)), name='accounting_period_month_valid'),
                ),
                migrations.AddConstraint(
                    model_name='accountingperiod',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'closed'), _negated=True), models.Q(('closed_at__isnull', False), ('closed_by__isnull', False)), _connector='OR'), name='accounting_period_closed_has_closer'),
                ),
                migrations.AddConstraint(
                    model_name='accountingperiod',
                    constraint=models.CheckConstraint(condition=models.Q(('reopened_at__isnull', True), models.Q(('reopened_by__isnull', False), models.Q(('reopen_reason', ''), _negated=True)), _connector='OR'), name='accounting_period_reopen_has_owner_and_reason'),
                ),
                migrations.AddIndex(
                    model_name='journalentry',
                    index=models.Index(fields=['effective_date'], name='journal_entry_date_idx'),
                ),
                migrations.AddIndex(
                    model_name='journalentry',
                    index=models.Index(fields=['reference'], name='journal_entry_ref_idx'),
                ),
                migrations.AddIndex(
                    model_name='journalentry',
                    index=models.Index(fields=['stripe_object_id'], name='journal_entry_stripe_idx'),
                ),
                migrations.AddConstraint(
                    model_name='journalentry',
                    constraint=models.UniqueConstraint(fields=('idempotency_key',), name='journal_entry_idempotency_key_unique'),
                ),
                migrations.AddConstraint(
                    model_name='journalentry',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='journal_entry_currency_iso'),
                ),
                migrations.AddConstraint(
                    model_name='journalentry',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'reversal'), ('reverses__isnull', False)), models.Q(models.Q(('kind', 'reversal'), _negated=True), ('reverses__isnull', True)), _connector='OR'), name='journal_entry_reversal_iff_reverses'),
                ),
                migrations.AddConstraint(
                    model_name='ledgeraccount',
                    constraint=models.UniqueConstraint(fields=('code', 'organisation', 'currency', 'subledger_key'), name='ledger_account_unique', nulls_distinct=False),
                ),
                migrations.AddConstraint(
                    model_name='ledgeraccount',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='ledger_account_currency_iso'),
                ),
                migrations.AddConstraint(
                    model_name='ledgeraccount',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('code', 'licensee_receivable'), ('kind', 'asset')), models.Q(('code', 'platform_cash'), ('kind', 'asset')), models.Q(('code', 'holder_recoverable'), ('kind', 'asset')), models.Q(('code', 'holder_pending'), ('kind', 'liability')), models.Q(('code', 'holder_payable'), ('kind', 'liability')), models.Q(('code', 'platform_commission'), ('kind', 'revenue')), models.Q(('code', 'platform_equity'), ('kind', 'equity')), models.Q(('code', 'stripe_fees'), ('kind', 'expense')), models.Q(('code', 'dispute_losses'), ('kind', 'expense')), models.Q(('code', 'write_offs'), ('kind', 'expense')), models.Q(('code', 'advance_unrecouped'), ('kind', 'memo')), models.Q(('code', 'advance_unrecouped_contra'), ('kind', 'memo')), _connector='OR'), name='ledger_account_kind_matches_code'),
                ),
                migrations.AddConstraint(
                    model_name='ledgeraccount',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('code__in', ['licensee_receivable', 'advance_unrecouped', 'holder_recoverable', 'holder_pending', 'holder_payable']), ('organisation__isnull', False)), models.Q(models.Q(('code__in', ['licensee_receivable', 'advance_unrecouped', 'holder_recoverable', 'holder_pending', 'holder_payable']), _negated=True), ('organisation__isnull', True)), _connector='OR'), name='ledger_account_organisation_iff_per_party'),
                ),
                migrations.AddIndex(
                    model_name='journalleg',
                    index=models.Index(fields=['account'], include=('amount_minor',), name='journal_leg_account_amount'),
                ),
                migrations.AddConstraint(
                    model_name='journalleg',
                    constraint=models.CheckConstraint(condition=models.Q(('amount_minor', 0), _negated=True), name='journal_leg_amount_nonzero'),
                ),
            ],
            database_operations=[],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='accountingperiod',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "royalties_accountingperiodevent" ("closed_at", "closed_by_id", "id", "month", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reopen_reason", "reopened_at", "reopened_by_id", "status", "year") VALUES (NEW."closed_at", NEW."closed_by_id", NEW."id", NEW."month", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."reopen_reason", NEW."reopened_at", NEW."reopened_by_id", NEW."status", NEW."year"); RETURN NULL;', hash='23caa5f329921ef9aa0b02d08c5c81fc84d76b7c', operation='INSERT', pgid='pgtrigger_insert_insert_a2eed', table='royalties_accountingperiod', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='accountingperiod',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "royalties_accountingperiodevent" ("closed_at", "closed_by_id", "id", "month", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reopen_reason", "reopened_at", "reopened_by_id", "status", "year") VALUES (NEW."closed_at", NEW."closed_by_id", NEW."id", NEW."month", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."reopen_reason", NEW."reopened_at", NEW."reopened_by_id", NEW."status", NEW."year"); RETURN NULL;', hash='744944186982428b2f0e4444d580cbc03666cb4c', operation='UPDATE', pgid='pgtrigger_update_update_01b62', table='royalties_accountingperiod', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='accountingperiodevent',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='fd496cf09de8fe66020bd7e186ff847614463da2', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_34cbc', table='royalties_accountingperiodevent', when='BEFORE')),
        ),
        migrations.RunPython(content_types_forwards, content_types_backwards, elidable=False),
    ]
