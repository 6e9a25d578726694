"""Verifies the gateway's identity assertion: the only thing this backend trusts about the caller.

docs/backend-contract.md quotes `caller` below verbatim (a test checks that it does).
"""

import re

import jwt  # PyJWT

ISSUER = "vaultgate-gateway"
AUDIENCE = "vaultgate-backend"
MAX_LIFETIME_SECS = 60
LEEWAY_SECS = 5
MAX_ASSERTION_BYTES = 2048
USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Unauthorized(Exception):
    """The request carries no acceptable identity: answer 401."""


# --- contract snippet start ---
def caller(headers, secret: bytes) -> str:
    """The verified user id of a request, or Unauthorized.

    `headers` is a multi-valued header mapping with getlist() (Starlette, Werkzeug).
    """
    assertions = headers.getlist("x-vault-identity")
    users = headers.getlist("x-vault-user")
    if len(assertions) != 1 or not assertions[0].strip():
        raise Unauthorized("identity assertion missing or repeated")
    token = assertions[0].strip()
    if len(token) > MAX_ASSERTION_BYTES:
        raise Unauthorized("identity assertion too large")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # pinned: never let the token choose
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECS,
            options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]},
        )
    except jwt.PyJWTError as e:
        raise Unauthorized(f"invalid identity assertion: {e}") from None
    iat, exp, sub = claims["iat"], claims["exp"], claims["sub"]
    if not all(isinstance(v, int) for v in (iat, exp)) or exp - iat > MAX_LIFETIME_SECS:
        raise Unauthorized("identity assertion lifetime longer than 60 s")
    if not isinstance(sub, str) or not USER_ID.fullmatch(sub):
        raise Unauthorized("identity assertion has a malformed subject")
    if users != [sub]:
        raise Unauthorized("X-Vault-User does not match the identity assertion")
    return sub
# --- contract snippet end ---
