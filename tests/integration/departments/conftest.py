"""Fixtures of the department services' integration tests: dev keys, services as processes."""

from lifecycle_testing.department_services import dev_keys, start_service

__all__ = ["dev_keys", "start_service"]
