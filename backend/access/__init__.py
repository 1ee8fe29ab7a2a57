"""Access control: users, roles, permissions, data scopes, signed links, flags and usage.

Deny by default: every page, route and callback declares the permission it needs
and one check wraps them all. Never imports dash.
"""

from backend.access.permissions import ALL as ALL_PERMISSIONS
from backend.access.permissions import BUILT_IN_ROLES
from backend.access.principal import EVERYTHING, DataScope, Principal

__all__ = ["ALL_PERMISSIONS", "BUILT_IN_ROLES", "EVERYTHING", "DataScope", "Principal"]
