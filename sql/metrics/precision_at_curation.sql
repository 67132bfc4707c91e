-- Precision at Curation and click-through over impressions served in [:from_ms, :to_ms).
--
-- An impression (position <= :k) is a hit when the same user sent a positive event for the same
-- item within :window_ms after the impression (and at most :skew_ms before it, for client clock
-- skew), attributed like this:
--   * an event that carries a recommendation_id counts for that recommendation only;
--   * an event without one counts for the most recent impression of that item for that user at
--     or before the event (plus :skew_ms), so a superseded earlier impression gets no credit.
-- impressions has (recommendation_id, item_id) as its primary key, so counts are deduplicated.

-- name: pac_by_slice
WITH shown AS (
    SELECT i.recommendation_id, i.item_id, i.user_id, i.served_ms, i.platform, i.model_version
    FROM impressions i
    WHERE i.served_ms >= :from_ms AND i.served_ms < :to_ms
      AND i.position <= :k
      AND (:platform IS NULL OR i.platform = :platform)
),
credited AS (
    SELECT s.recommendation_id, s.item_id, s.platform, s.model_version,
        MAX(CASE WHEN e.event_type IN (:positive_types) THEN 1 ELSE 0 END) AS engaged,
        MAX(CASE WHEN e.event_type IN (:click_types) THEN 1 ELSE 0 END) AS clicked
    FROM shown s
    JOIN events e
      ON e.user_id = s.user_id
     AND e.item_id = s.item_id
     AND e.ts_ms >= s.served_ms - :skew_ms
     AND e.ts_ms <= s.served_ms + :window_ms
    WHERE (e.recommendation_id = s.recommendation_id)
       OR (e.recommendation_id IS NULL AND NOT EXISTS (
              SELECT 1 FROM impressions later
              WHERE later.user_id = s.user_id
                AND later.item_id = s.item_id
                AND later.served_ms > s.served_ms
                AND later.served_ms <= e.ts_ms + :skew_ms))
    GROUP BY s.recommendation_id, s.item_id, s.platform, s.model_version
)
SELECT s.platform, s.model_version,
       COUNT(*) AS impressions,
       COALESCE(SUM(c.engaged), 0) AS engaged,
       COALESCE(SUM(c.clicked), 0) AS clicked
FROM shown s
LEFT JOIN credited c
  ON c.recommendation_id = s.recommendation_id AND c.item_id = s.item_id
GROUP BY s.platform, s.model_version
ORDER BY s.platform, s.model_version;

-- name: items_shown
SELECT COUNT(DISTINCT i.item_id) AS items
FROM impressions i
WHERE i.served_ms >= :from_ms AND i.served_ms < :to_ms
  AND i.position <= :k
  AND (:platform IS NULL OR i.platform = :platform);

-- name: catalog_size
SELECT COUNT(*) AS items FROM items WHERE hidden = 0;

-- name: upsert_metric
INSERT INTO metrics (name, granularity, window_start_ms, window_end_ms, platform, model_version,
                     k, value, numerator, denominator, ci_low, ci_high, final, computed_ms)
VALUES (:name, :granularity, :window_start_ms, :window_end_ms, :platform, :model_version,
        :k, :value, :numerator, :denominator, :ci_low, :ci_high, :final, :computed_ms)
ON CONFLICT (name, granularity, window_start_ms, platform, model_version, k) DO UPDATE SET
    window_end_ms = excluded.window_end_ms,
    value = excluded.value,
    numerator = excluded.numerator,
    denominator = excluded.denominator,
    ci_low = excluded.ci_low,
    ci_high = excluded.ci_high,
    final = excluded.final,
    computed_ms = excluded.computed_ms;
