-- Per-item features over `feature_events` (see source.sql) as of :as_of_ms, for every catalog item
-- (items without events get zero counts and the prior rates). Rates are Beta-smoothed like the
-- user features. Shared by training and serving.

-- name: item_features
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
