"""Fixtures of real components for integration tests; each lives in its own module."""

from postgres import postgres_url
from registry import auth_registry, registry, tls_registry, token_registry

__all__ = ["auth_registry", "postgres_url", "registry", "tls_registry", "token_registry"]
