"""mediarec's Lambda functions: ingest, recommend and metrics, sharing functions.common."""
