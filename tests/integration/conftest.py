"""Fixtures of real components for integration tests; each lives in its own module."""

from registry import auth_registry, registry, tls_registry, token_registry

__all__ = ["auth_registry", "registry", "tls_registry", "token_registry"]
