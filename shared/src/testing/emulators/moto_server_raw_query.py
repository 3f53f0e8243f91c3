"""moto_server, with SigV4 checks computed on the request's raw query string.

moto 5.x (server mode) rebuilds the canonical request for its signature check
from werkzeug's `request.url`, which is an IRI: percent-escapes such as %2F are
decoded. A client that signs `prefix=.deeplens-probe%2Fx` (as AWS requires and
every SDK does) is then told SignatureDoesNotMatch, though AWS accepts it. This
launcher hands moto's authenticator the query string exactly as it arrived;
everything else is moto_server unchanged (same arguments, same IAM checks).
"""

import sys

import moto.core.authorization as authorization
from flask import has_request_context, request
from moto.server import main

_original = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action


def _with_raw_query(self, iam_request_cls, resource="*"):
    if not has_request_context():
        return _original(self, iam_request_cls, resource)
    raw_query = request.environ.get("QUERY_STRING", "")
    uri = self.uri
    self.uri = uri.split("?", 1)[0] + (f"?{raw_query}" if raw_query else "")
    try:
        return _original(self, iam_request_cls, resource)
    finally:
        self.uri = uri


authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = _with_raw_query

if __name__ == "__main__":
    main(sys.argv[1:])
