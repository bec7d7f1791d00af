"""An RFC 7662 resource server written with Authlib (Debian's python3-authlib), not by this project.

Reads one JSON object on stdin: {"url", "client_id", "client_secret", "cases": [{"name", "token",
"hint"?}]}. For each case it does what an Authlib resource server does with an incoming request:
ResourceProtector parses `Authorization: Bearer <token>`, its IntrospectTokenValidator asks the
introspection endpoint (OAuth2Session.introspect_token: a form POST with client_secret_basic) and
accepts the token only when `active` is true. Prints one JSON line per case:
{"name", "status", "claims"} (the endpoint's HTTP status and JSON) and "accepted" or "error" (the
Authlib error name). Exit 0 unless something here breaks.
"""
import json
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2 import OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6749 import HttpRequest
from authlib.oauth2.rfc7662 import IntrospectTokenValidator


def main():
    spec = json.load(sys.stdin)
    session = OAuth2Session(spec["client_id"], spec["client_secret"])  # client_secret_basic by default
    seen = {}

    class Validator(IntrospectTokenValidator):
        def introspect_token(self, token_string):
            resp = session.introspect_token(spec["url"], token=token_string, token_type_hint=seen.get("hint"))
            seen["status"] = resp.status_code
            seen["claims"] = resp.json()
            resp.raise_for_status()
            return resp.json()

    protector = ResourceProtector()
    protector.register_token_validator(Validator())
    for case in spec["cases"]:
        seen.clear()
        seen["hint"] = case.get("hint")
        request = HttpRequest("GET", "https://api.example.com/", headers={"Authorization": "Bearer " + case["token"]})
        out = {"name": case["name"]}
        try:
            token = protector.validate_request(scopes=None, request=request)
            out["accepted"] = dict(token)
        except OAuth2Error as e:
            out["error"] = e.error
        except Exception as e:  # an HTTP error from raise_for_status: the endpoint refused the caller
            out["error"] = type(e).__name__
        out["status"] = seen.get("status")
        out["claims"] = seen.get("claims")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
