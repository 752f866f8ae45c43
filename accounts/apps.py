from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from accounts.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from accounts.login_throttle import login_locked_out_notify

        user_locked_out.connect(login_locked_out_notify, dispatch_uid="accounts.lockout_notify")
