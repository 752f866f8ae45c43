# The Stripe models' content types follow them from accounts to payments, so that what points
# at them keeps pointing at them: permissions granted to staff (the admin), the admin's change
# history. Only django_content_type.app_label changes; a database migrated from scratch has no
# content types yet at this point (Django creates them after migrating), so nothing happens.

from django.db import migrations

MODELS = [
    'stripeconnectedaccount',
    'stripeconnectedaccountevent',
    'stripecustomer',
    'stripeevent',
    'stripepayment',
    'stripepaymentevent',
    'striperefund',
    'striperequest',
]


def _relabel(apps, schema_editor, old, new):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    content_types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'accounts', 'payments')


def backwards(apps, schema_editor):
    _relabel(apps, schema_editor, 'payments', 'accounts')


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('payments', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
