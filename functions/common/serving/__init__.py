"""What a feed is made of: the published model bundle (``bundle``) and its ONNX Runtime session and
registry (``model_runtime``), the SQL features (``features``) and their online tables
(``online_features``), popularity (``popularity``) and the refresh that keeps the snapshots they
read fresh (``snapshot_refresh``).

May import the basics and ``store``; never ``http``: nothing here knows about requests.
"""
