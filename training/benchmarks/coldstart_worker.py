"""One cold start of `mediarec benchmark coldstart`, in a fresh process:

    python -m training.benchmarks.coldstart_worker FUNCTION EVENT_FILE

imports FUNCTION's Lambda handler (ingest, recommend or metrics), answers the API Gateway event
in EVENT_FILE (JSON, written by the parent so that building it costs this process nothing) and
prints one JSON line: the imports, the first request, the status, and when it answered.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


class _Context:
    """What Powertools reads of a Lambda context."""

    function_name = "mediarec-benchmark"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mediarec-benchmark"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 15_000


def main(argv: list[str]) -> None:
    function, event_file = argv
    with open(event_file, encoding="utf-8") as source:
        event = json.load(source)
    read = time.perf_counter()
    handler = importlib.import_module(f"functions.{function}.app").handler
    imported = time.perf_counter()
    response = handler(event, _Context())
    answered = time.perf_counter()
    answered_ns = time.time_ns()  # the parent measures from the spawn: interpreter start included
    print(
        json.dumps(
            {
                "status": response["statusCode"],
                "imports_ms": 1000 * (imported - read),
                "first_request_ms": 1000 * (answered - imported),
                "answered_ns": answered_ns,
                "modules": len(sys.modules),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
