-- Model input features (functions/common/serving/features.py and online_features.py), the same
-- queries offline and online: every feature query reads the temporary relation `feature_events`.
-- Training fills a temporary table of that name with the events of its training split (so no
-- validation or test interaction leaks into a feature: sql/training/data.sql); serving reads every
-- event up to now through the view below.
--
-- Rates are smoothed with a Beta(:prior_a, :prior_b) prior so that a user with one like does not
-- look like a user with a hundred. user_features and one_user_features have the same select list:
-- every user (training) and one user (serving, where the user_id equality lets SQLite use the
-- events index; an "(:user_id IS NULL OR ...)" filter would scan every event).
-- tests/functions/test_features.py checks that they agree.

-- name: create_serving_source
-- Serving's `feature_events`: every stored event, through a view.
CREATE TEMP VIEW IF NOT EXISTS feature_events AS
SELECT user_id, item_id, event_type, ts_ms FROM main.events;

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

-- name: item_features
-- Per-item features as of :as_of_ms, for every catalog item (items without events get zero counts
-- and the prior rates).
SELECT i.item_id,
       i.kind,
       i.categories,
       COALESCE(s.events, 0)                                         AS events,
       COALESCE(s.users, 0)                                          AS users,
       (COALESCE(s.likes, 0) + :prior_a) / (COALESCE(s.users, 0) + :prior_a + :prior_b)
                                                                     AS like_rate,
       (COALESCE(s.clicks, 0) + :prior_a) / (COALESCE(s.users, 0) + :prior_a + :prior_b)
                                                                     AS click_rate,
       COALESCE(s.recent_users, 0)                                   AS recent_users,
       COALESCE((:as_of_ms - s.last_ms) / 86400000.0, :max_days)     AS days_since_last,
       COALESCE((:as_of_ms - COALESCE(i.published_ms, s.first_ms)) / 86400000.0, :max_days)
                                                                     AS age_days
FROM items i
LEFT JOIN (
    SELECT e.item_id,
           COUNT(*)                                                  AS events,
           COUNT(DISTINCT e.user_id)                                 AS users,
           SUM(CASE WHEN e.event_type IN (:like_types) THEN 1 ELSE 0 END)  AS likes,
           SUM(CASE WHEN e.event_type IN (:click_types) THEN 1 ELSE 0 END) AS clicks,
           COUNT(DISTINCT CASE WHEN e.ts_ms > :as_of_ms - :recent_ms THEN e.user_id END)
                                                                     AS recent_users,
           MIN(e.ts_ms)                                              AS first_ms,
           MAX(e.ts_ms)                                              AS last_ms
    FROM feature_events e
    WHERE e.ts_ms <= :as_of_ms
    GROUP BY e.item_id
) s ON s.item_id = i.item_id;

-- name: recent_interactions
-- A user's most recent interactions, the model's history input at serving time. An interaction is
-- a distinct (user, item) pair with an event of the model's interaction types, stamped with its
-- first such event: the same definition as training's `interactions` (sql/training/data.sql),
-- ordered the same way (time, then item id), newest first here (the caller reverses it).
SELECT item_id, MIN(ts_ms) AS ts_ms
FROM events
WHERE user_id = :user_id
  AND event_type IN (:types)
  AND ts_ms <= :as_of_ms
GROUP BY item_id
ORDER BY MIN(ts_ms) DESC, item_id DESC
LIMIT :limit;
