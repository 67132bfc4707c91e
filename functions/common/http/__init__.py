"""HTTP and Lambda plumbing: the FastAPI app factory (``app``), the door in front of every route
(``door``: routes and scopes; ``api_keys``: keys, hashes, the per-container key cache), error
shaping (``errors``), JSON body limits (``json_body``), request and response schemas
(``schemas``), the OpenAPI additions (``openapi_access``, ``openapi_values``), the Lambda entry
point and HTTP event helpers (``lambda_runtime``, ``lambda_http``) and FastAPI dependencies
(``dependencies``).

May import the basics and ``store``; never ``serving``: a function's own folder joins a route to
the serving logic behind it.
"""
