-- PostgreSQL's side of sql/metrics/off_policy.sql: the logged slots read on the live store, the
-- window's outcomes computed as a CTE (sql/metrics/precision_at_curation.postgresql.sql). The
-- replay store itself is always a local SQLite copy (training/off_policy.py).

-- name: logged_slots
WITH window_outcomes AS ({{metrics/precision_at_curation:window_outcome_rows}})
SELECT w.recommendation_id, w.user_id, w.platform, w.position, w.item_id, w.engaged,
       i.propensity, i.served_ms, r.k, r.request
FROM window_outcomes w
JOIN impressions i ON i.recommendation_id = w.recommendation_id AND i.item_id = w.item_id
JOIN recommendations r ON r.recommendation_id = w.recommendation_id
ORDER BY i.served_ms, w.recommendation_id, w.position;
