"""Everything Stripe: the gateway, Connect onboarding, payments, webhooks and their events."""
