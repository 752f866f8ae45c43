from django.contrib.auth.views import LogoutView
from django.urls import include, path

from frontend.views import auth, dashboards

app_name = "frontend"

urlpatterns = [
    path("", dashboards.home, name="home"),
    path("signup/", auth.signup, name="signup"),
    path("login/", auth.ThrottledLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("creator/", dashboards.creator_dashboard, name="creator-dashboard"),
    path("developer/", dashboards.developer_dashboard, name="developer-dashboard"),
    path("finance/", dashboards.finance_dashboard, name="finance-dashboard"),
    # Each area's pages live in frontend/views/<area>.py with their own urlpatterns.
    path("", include("frontend.views.catalog")),
    path("", include("frontend.views.marketplace")),
    path("", include("frontend.views.royalties")),
    path("", include("frontend.views.payouts")),
    path("", include("frontend.views.usage")),
    path("", include("frontend.views.finance")),
    path("", include("frontend.views.stripe")),
    path("", include("frontend.views.sandbox")),
    path("", include("frontend.views.account")),
]
