"""Code shared by the three functions: settings, database, SQL, request models, ranking, metrics."""
