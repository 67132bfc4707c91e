"""``mediarec serve``: every route of the three functions in one local process."""

from __future__ import annotations

import argparse
import sys

from training.cli.options import Commands

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print(
            "error: mediarec serve needs uvicorn, which the 'serve' extra installs: "
            "pip install -e '.[serve]' (make install installs it too)",
            file=sys.stderr,
        )
        return 2

    from training.local.server import build_app

    app = build_app()
    base = f"http://{args.host}:{args.port}"
    print(f"mediarec serving on {base}  (console: {base}/console/, Swagger UI: {base}/docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def register(commands: Commands) -> None:
    serve = commands.add(
        "serve",
        "run all routes of the three functions in one local process",
        func=cmd_serve,
        description="Run all routes of the three functions (ingest, recommend, metrics) in one "
        "local HTTP server, behind the same door as in AWS: requests need an API key "
        "(mediarec keys create). The web console is at /console/ (it asks for a key), the "
        "Swagger UI at /docs.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="uvicorn's log level"
    )
