-- PostgreSQL's side of sql/store/snapshots.sql.

-- name: new_generation
-- One more than the largest generation ever drawn (the table is never deleted from; DSQL has no
-- sequences). Two refreshes drawing at once collide on the key: the engine runs the loser again.
INSERT INTO snapshot_generations (generation, name)
SELECT COALESCE(MAX(generation), 0) + 1, :name FROM snapshot_generations
RETURNING generation;
