-- PostgreSQL's side of sql/metrics/compare.sql: the window's outcomes computed as a CTE, as in
-- sql/metrics/precision_at_curation.postgresql.sql.

-- name: user_outcomes
WITH window_outcomes AS ({{metrics/precision_at_curation:window_outcome_rows}})
SELECT model_version, user_id,
       COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM window_outcomes
WHERE model_version IN (:a, :b)
GROUP BY model_version, user_id;

-- name: users_per_arm
WITH window_outcomes AS ({{metrics/precision_at_curation:window_outcome_rows}})
SELECT arm, COUNT(DISTINCT user_id) AS users
FROM window_outcomes
WHERE arm IN ('a', 'b')
GROUP BY arm;

-- name: user_outcomes_by_arm
WITH window_outcomes AS ({{metrics/precision_at_curation:window_outcome_rows}})
SELECT arm, user_id,
       COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM window_outcomes
WHERE arm IN ('a', 'b')
GROUP BY arm, user_id;

-- name: served_versions_by_arm
WITH window_outcomes AS ({{metrics/precision_at_curation:window_outcome_rows}})
SELECT arm, model_version, COUNT(*) AS impressions
FROM window_outcomes
WHERE arm IN ('a', 'b')
GROUP BY arm, model_version
ORDER BY arm, impressions DESC, model_version;
