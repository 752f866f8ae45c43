from django.core.management.base import BaseCommand

from frontend.demo import DEMO_LOGINS, DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Load the demo marketplace (idempotent: running it twice duplicates nothing)."

    def handle(self, *args: object, **options: object) -> None:
        seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo data is loaded."))
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.persona:<13} {login.email:<28} password {DEMO_PASSWORD}")
