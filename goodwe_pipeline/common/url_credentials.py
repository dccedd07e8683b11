"""Credentials inside store URLs, found the same way wherever a URL is parsed or masked."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

QUERY_SECRETS = ("password", "sslpassword")
"""Query parameters libpq (and SQLAlchemy) read a password from."""


def user_part(url: str) -> tuple[str, str | None]:
    """``url`` without its user part, and the user part as written (None without one).

    The user part ends at the URL's *last* ``@``, so a password may hold ``@``, ``:``,
    ``/``, ``?`` or ``#`` without percent-encoding (the standard parser would read
    those as the end of the host and put part of the password into the port). An
    ``@`` in the URL's path is therefore not supported.
    """
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    if "@" not in rest:
        return text, None
    user, rest = rest.rsplit("@", 1)
    return f"{scheme}{separator}{rest}", user


def credentials(user: str) -> tuple[str | None, str | None]:
    """User name and password (percent-decoded; None when absent) of a user part."""
    name, colon, password = user.partition(":")
    return unquote(name) or None, unquote(password) if colon else None


def url_secrets(url: str | None) -> list[str]:
    """The passwords in ``url`` (its user part, and ``password``/``sslpassword`` query
    parameters), as written and percent-decoded, for masking.

    Never raises: it is meant for reporting about URLs that may not parse.
    """
    address, user = user_part(url or "")
    found = []
    if user is not None and ":" in user:
        found.append(user.partition(":")[2])
    query = address.partition("?")[2].partition("#")[0]
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key in QUERY_SECRETS:
            found.append(value)
    found += [unquote(secret) for secret in found]
    return [s for s in dict.fromkeys(found) if s]
