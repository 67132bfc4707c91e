-- PostgreSQL's side of sql/metrics/precision_at_curation.sql. No temporary tables (Aurora DSQL
-- has none, and a scratch table would be one large write per window): each query that reads
-- the window's outcomes computes them as a CTE from window_outcome_rows, and novelty its ranks
-- from popularity_rank_rows, with the same parameters (functions/metrics/logic.py passes the
-- window's parameters to every query). The planner runs the attribution once per query.

-- name: outcomes_by_slice
WITH window_outcomes AS ({{window_outcome_rows}})
SELECT platform, model_version, arm,
       COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM window_outcomes
GROUP BY platform, model_version, arm
ORDER BY platform, model_version, arm;

-- name: outcomes_by_position
WITH window_outcomes AS ({{window_outcome_rows}})
SELECT position, COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM window_outcomes
GROUP BY position
ORDER BY position;

-- name: items_shown
WITH window_outcomes AS ({{window_outcome_rows}})
SELECT COUNT(DISTINCT item_id) AS items FROM window_outcomes;

-- name: feed_auc
WITH window_outcomes AS ({{window_outcome_rows}}),
feeds AS (
    SELECT p.recommendation_id, p.platform, p.model_version, p.arm,
           AVG(CASE WHEN p.score > n.score THEN 1.0
                    WHEN p.score = n.score THEN 0.5
                    ELSE 0.0 END) AS auc
    FROM window_outcomes p
    JOIN window_outcomes n
      ON n.recommendation_id = p.recommendation_id AND n.reason = p.reason AND n.engaged = 0
    WHERE p.engaged = 1
    GROUP BY p.recommendation_id, p.platform, p.model_version, p.arm
)
SELECT platform, model_version, arm, SUM(auc) AS auc_sum, COUNT(*) AS feeds
FROM feeds
GROUP BY platform, model_version, arm
ORDER BY platform, model_version, arm;

-- name: novelty
WITH window_outcomes AS ({{window_outcome_rows}}),
ranks AS (
    SELECT item_id, popularity_rank FROM ({{popularity_rank_rows}}) r
    WHERE item_id <> ''
),
unranked AS (SELECT COUNT(*) + 1 AS popularity_rank FROM ranks)
SELECT o.platform, o.model_version, o.arm,
       SUM(COALESCE(r.popularity_rank, u.popularity_rank)) AS rank_sum, COUNT(*) AS impressions
FROM window_outcomes o
CROSS JOIN unranked u
LEFT JOIN ranks r ON r.item_id = o.item_id
GROUP BY o.platform, o.model_version, o.arm
ORDER BY o.platform, o.model_version, o.arm;

-- name: diversity
WITH window_outcomes AS ({{window_outcome_rows}}),
labels AS (
    SELECT o.recommendation_id, o.platform, o.model_version, o.arm, c.category
    FROM window_outcomes o
    JOIN item_categories c ON c.item_id = o.item_id
),
feeds AS (
    SELECT platform, model_version, arm,
           COUNT(DISTINCT category) * 1.0 / COUNT(*) AS distinct_share
    FROM labels
    GROUP BY recommendation_id, platform, model_version, arm
)
SELECT platform, model_version, arm, SUM(distinct_share) AS share_sum, COUNT(*) AS feeds
FROM feeds
GROUP BY platform, model_version, arm
ORDER BY platform, model_version, arm;
