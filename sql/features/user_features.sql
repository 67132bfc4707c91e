-- Per-user features over `feature_events` (see source.sql) as of :as_of_ms. Rates are smoothed
-- with a Beta(:prior_a, :prior_b) prior so that a user with one like does not look like a user
-- with a hundred. Shared by training and serving.
--
-- Two queries with the same select list: every user (training) and one user (serving, where the
-- user_id equality lets SQLite use the events index; an "(:user_id IS NULL OR ...)" filter would
-- scan every event). tests/test_features.py checks that they agree.

-- name: user_features
SELECT e.user_id,
       COUNT(*)                                                     AS events,
       COUNT(DISTINCT e.item_id)                                    AS items,
       (SUM(CASE WHEN e.event_type IN (:like_types) THEN 1 ELSE 0 END) + :prior_a)
         / (COUNT(DISTINCT e.item_id) + :prior_a + :prior_b)         AS like_rate,
       (SUM(CASE WHEN e.event_type IN (:skip_types) THEN 1 ELSE 0 END) + :prior_a)
         / (COUNT(DISTINCT e.item_id) + :prior_a + :prior_b)         AS skip_rate,
       (:as_of_ms - MAX(e.ts_ms)) / 86400000.0                      AS days_since_last,
       (MAX(e.ts_ms) - MIN(e.ts_ms)) / 86400000.0                   AS active_days
FROM feature_events e
WHERE e.ts_ms <= :as_of_ms
GROUP BY e.user_id;

-- name: one_user_features
SELECT e.user_id,
       COUNT(*)                                                     AS events,
       COUNT(DISTINCT e.item_id)                                    AS items,
       (SUM(CASE WHEN e.event_type IN (:like_types) THEN 1 ELSE 0 END) + :prior_a)
         / (COUNT(DISTINCT e.item_id) + :prior_a + :prior_b)         AS like_rate,
       (SUM(CASE WHEN e.event_type IN (:skip_types) THEN 1 ELSE 0 END) + :prior_a)
         / (COUNT(DISTINCT e.item_id) + :prior_a + :prior_b)         AS skip_rate,
       (:as_of_ms - MAX(e.ts_ms)) / 86400000.0                      AS days_since_last,
       (MAX(e.ts_ms) - MIN(e.ts_ms)) / 86400000.0                   AS active_days
FROM feature_events e
WHERE e.user_id = :user_id
  AND e.ts_ms <= :as_of_ms
GROUP BY e.user_id;
