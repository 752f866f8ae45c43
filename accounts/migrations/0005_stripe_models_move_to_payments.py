# The Stripe models moved to the payments app (payments/migrations/0001_initial.py takes them
# over). Only Django's state changes here: the tables, their rows, constraints and triggers
# stay exactly as they are, under their accounts_* names.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_alter_apikey_created_at_and_more'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Models that point at others go first.
                migrations.DeleteModel(name='StripeRefund'),
                migrations.DeleteModel(name='StripePaymentEvent'),
                migrations.DeleteModel(name='StripeConnectedAccountEvent'),
                migrations.DeleteModel(name='StripePayment'),
                migrations.DeleteModel(name='StripeConnectedAccount'),
                migrations.DeleteModel(name='StripeCustomer'),
                migrations.DeleteModel(name='StripeEvent'),
                migrations.DeleteModel(name='StripeRequest'),
            ],
            database_operations=[],
        ),
    ]
