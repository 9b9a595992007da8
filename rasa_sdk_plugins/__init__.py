"""Action-server protections, loaded by rasa-sdk itself.

rasa_sdk.plugin imports a top-level package named `rasa_sdk_plugins` and calls
its `init_hooks`; `rasa run actions` started from the project directory finds
this one. rasa-sdk 3.6 has no --host or --auth-token option, so:

- the server listens on SANIC_HOST, which defaults here to 127.0.0.1 instead of
  rasa-sdk's 0.0.0.0 (rasa-sdk reads it after this hook runs);
- when ACTION_SERVER_TOKEN is set, every request but /health must carry it, as
  Rasa sends it from endpoints.yml's `action_endpoint: token:` (a `token` query
  parameter) or as `Authorization: Bearer <token>`; otherwise 401;
- the server refuses to listen beyond loopback without a token.
"""

import hmac
import ipaddress
import logging
import os
import sys
from typing import Any, Callable, Optional

import pluggy
from sanic import Sanic, response
from sanic.request import Request

hookimpl = pluggy.HookimplMarker("rasa_sdk")
logger = logging.getLogger(__name__)

HOST_ENV = "SANIC_HOST"
TOKEN_ENV = "ACTION_SERVER_TOKEN"
DEFAULT_HOST = "127.0.0.1"
OPEN_PATHS = frozenset({"/health"})  # load balancers probe it; it says nothing


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(sys.modules[__name__])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def presented_token(request: Request) -> str:
    """The token from Rasa's query parameter or a bearer header."""
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        return bearer[len("Bearer ") :]
    return request.args.get("token", "")


def token_check(token: str) -> Callable[[Request], Any]:
    async def check(request: Request) -> Optional[Any]:
        if request.path in OPEN_PATHS:
            return None
        if hmac.compare_digest(presented_token(request).encode(), token.encode()):
            return None
        logger.warning("Refused a request to %s without a valid action-server token.", request.path)
        return response.json({"error": "A valid action-server token is required."}, status=401)

    return check


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    host = os.environ.setdefault(HOST_ENV, DEFAULT_HOST)
    token = os.environ.get(TOKEN_ENV, "")
    if not token and not is_loopback(host):
        raise SystemExit(
            f"The action server would listen on {host} without a token: set {TOKEN_ENV} "
            f"(and action_endpoint: token: in Rasa's endpoints.yml), or listen on 127.0.0.1."
        )
    if token:
        app.register_middleware(token_check(token), "request")
    logger.info("Action server on %s, %s.", host, "token required" if token else "loopback only, no token")
