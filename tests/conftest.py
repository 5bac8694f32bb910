"""Shared fixtures. Process-owning fixtures live beside the tests that need them."""
