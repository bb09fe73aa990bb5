"""The environment variables the command line reads, by what they hold.

Kept apart from the commands that use them, so that listing them in
``--help`` does not load those commands' code.
"""

from __future__ import annotations

__all__ = ["CALDAV_PASSWORD", "SMTP_PASSWORD", "SMTP_USER"]

#: The password for ``ketaplan publish --user``.
CALDAV_PASSWORD = "KETAPLAN_CALDAV_PASSWORD"
#: The user name for ``ketaplan invite --smtp``.
SMTP_USER = "KETAPLAN_SMTP_USER"
#: The password for ``ketaplan invite --smtp``.
SMTP_PASSWORD = "KETAPLAN_SMTP_PASSWORD"
