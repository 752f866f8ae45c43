"""Sign-up, sign-in (throttled per account and address, accounts/login_throttle.py) and
sign-out."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.models import User
from accounts.services import invitation_for_token, user_signup, user_signup_invited
from frontend.forms import EmailAuthenticationForm, InvitedSignupForm, SignupForm

LOCKED_OUT_MESSAGE = "Too many failed attempts. Wait a few minutes and try again."


def login_locked_out_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """The sign-in page again, with the reason, answered 429 (the site's and the admin's)."""
    form = EmailAuthenticationForm(request, data=request.POST or None)
    form.errors.clear()
    form.add_error(None, LOCKED_OUT_MESSAGE)
    return render(
        request, "registration/login.html", {"form": form, "locked_out": True}, status=429
    )


class ThrottledLoginView(LoginView):
    """Django's login view; django-axes refuses a locked-out account and address
    (``accounts.login_throttle``, the same throttle as the admin's)."""

    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("frontend:home")
    token = request.GET.get("invite", "")
    if token:
        return _signup_invited(request, token)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = user_signup(
            email=data["email"],
            password=data["password"],
            full_name=data["full_name"],
            organisation_name=data["organisation_name"],
            organisation_kind=data["organisation_kind"],
            creator_category=data.get("creator_category", ""),
        )
        return _welcome(request, user)
    return render(request, "registration/signup.html", {"form": form})


def _welcome(request: HttpRequest, user: User) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome to TrainRight, {user.full_name}.")
    return redirect("frontend:home")


def _signup_invited(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_for_token(token=token)
    if invitation is None:
        messages.error(request, "This invitation link is invalid, used or expired.")
        return redirect("frontend:signup")
    form = InvitedSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        user = user_signup_invited(
            invitation=invitation,
            password=form.cleaned_data["password"],
            full_name=form.cleaned_data["full_name"],
        )
        return _welcome(request, user)
    return render(request, "registration/signup.html", {"form": form, "invitation": invitation})
