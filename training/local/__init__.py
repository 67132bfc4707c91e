"""Running the functions on a laptop: the local HTTP server behind ``mediarec serve`` (``server``)
and the in-process Lambda invoker that replays ``events/*.json`` (``lambda_invoke``).

May import ``functions``; never the training core, the datasets or the CLI.
"""
