-- What an A/B comparison reads from temp.window_outcomes (filled by
-- sql/metrics/precision_at_curation.sql fill_window_outcomes for the compared window).

-- name: user_outcomes
-- Per model version and user: impressions up to k, engaged and clicked ones (the user is the
-- unit of the comparison's statistics).
SELECT model_version, user_id,
       COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM temp.window_outcomes
WHERE model_version IN (:a, :b)
GROUP BY model_version, user_id;

-- name: users_per_arm
-- Distinct users per logged A/B arm: what the sample-ratio check counts.
SELECT arm, COUNT(DISTINCT user_id) AS users
FROM temp.window_outcomes
WHERE arm IN ('a', 'b')
GROUP BY arm;

-- name: user_outcomes_by_arm
-- Per logged A/B arm and user, whatever version served them (intention to treat).
SELECT arm, user_id,
       COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM temp.window_outcomes
WHERE arm IN ('a', 'b')
GROUP BY arm, user_id;

-- name: served_versions_by_arm
SELECT arm, model_version, COUNT(*) AS impressions
FROM temp.window_outcomes
WHERE arm IN ('a', 'b')
GROUP BY arm, model_version
ORDER BY arm, impressions DESC, model_version;
