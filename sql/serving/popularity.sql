-- The popularity baseline (functions/common/serving/popularity.py): the engagements the snapshot
-- refresh ranks, and the reads of the ranking (popularity_snapshot) at request time.

-- name: popularity_buckets
-- Positive engagements per recommendable item, platform and time bucket inside the window; the
-- time decay is applied in Python (functions/common/serving/popularity.py) so no math functions are needed.
SELECT e.item_id, e.platform, e.ts_ms / :bucket_ms AS bucket, COUNT(*) AS engagements
FROM events e
JOIN items i ON i.item_id = e.item_id
WHERE e.ts_ms >= :since_ms
  AND e.ts_ms <= :now_ms
  AND e.event_type IN (:positive_types)
  AND i.hidden = 0
GROUP BY e.item_id, e.platform, e.ts_ms / :bucket_ms;

-- name: popular_items
-- The platform's most popular visible items, best first, of one kind and/or category if asked,
-- leaving out what :exclude_user has events on (NULL: nobody). Walks the primary key in rank
-- order and stops at :limit.
SELECT p.item_id, p.score, i.kind
FROM popularity_snapshot p
JOIN items i ON i.item_id = p.item_id
WHERE p.generation = :generation
  AND p.platform = :platform
  AND i.hidden = 0
  AND (:kind IS NULL OR i.kind = :kind)
  AND (:category IS NULL OR EXISTS (SELECT 1 FROM item_categories c
                                    WHERE c.item_id = p.item_id AND c.category = :category))
  AND (:exclude_user IS NULL OR p.item_id NOT IN (SELECT e.item_id FROM events e
                                                  WHERE e.user_id = :exclude_user))
ORDER BY p.rank
LIMIT :limit;

-- name: top_popular_ids
-- The platform's most popular items, unfiltered: the model ranks them beside its own candidates.
SELECT item_id FROM popularity_snapshot
WHERE generation = :generation AND platform = :platform
ORDER BY rank
LIMIT :limit;
