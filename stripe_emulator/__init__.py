"""A local emulator of the subset of Stripe's REST API that TrainRight uses.

A development and test tool, never deployed: see README.md in this package.
"""
