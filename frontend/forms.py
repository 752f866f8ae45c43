from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Organisation, User


class SignupForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    organisation_name = forms.CharField(
        max_length=200,
        label="Organisation",
        help_text="Your own name if you sign up as an individual creator.",
    )
    organisation_kind = forms.ChoiceField(
        choices=[
            (Organisation.Kind.CREATOR, "I create or hold rights to works"),
            (Organisation.Kind.AI_DEVELOPER, "I license works to train AI"),
        ],
        label="I am signing up because",
        widget=forms.RadioSelect,
    )
    creator_category = forms.ChoiceField(
        choices=[("", "—"), *Organisation.CreatorCategory.choices],
        required=False,
        label="Kind of rights holder",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password"):
            try:
                password_validation.validate_password(
                    data["password"], User(email=data.get("email", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password", error)
        if data.get("organisation_kind") == Organisation.Kind.CREATOR and not data.get(
            "creator_category"
        ):
            self.add_error("creator_category", "Choose the kind of rights holder you are.")
        return data


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))


class InvitedSignupForm(forms.Form):
    """Sign-up through an invitation: the email and organisation come from the invitation."""

    full_name = forms.CharField(max_length=200, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password, User(email=self.email))
        return password
