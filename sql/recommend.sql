-- Reads and writes of the recommend function (functions/recommend/).

-- name: fresh_items
-- Newest visible items by published_ms (items without one last), optionally of one kind and/or
-- category, leaving out what :exclude_user has events on (NULL: nobody); walks the
-- items_published_item index.
SELECT i.item_id, i.kind, i.published_ms
FROM items i
WHERE i.hidden = 0
  AND (:kind IS NULL OR i.kind = :kind)
  AND (:category IS NULL OR EXISTS (SELECT 1 FROM item_categories c
                                    WHERE c.item_id = i.item_id AND c.category = :category))
  AND (:exclude_user IS NULL OR i.item_id NOT IN (SELECT e.item_id FROM events e
                                                  WHERE e.user_id = :exclude_user))
ORDER BY i.published_ms DESC, i.item_id DESC
LIMIT :limit;

-- name: user_seen_items
-- Items the user already has any event on (viewed, clicked, liked, shared or skipped).
SELECT DISTINCT item_id FROM events WHERE user_id = :user_id;

-- name: insert_recommendation
INSERT INTO recommendations (recommendation_id, user_id, platform, k, model_version, request,
                             served_ms, arm)
VALUES (:recommendation_id, :user_id, :platform, :k, :model_version, :request, :served_ms, :arm);

-- name: insert_impression
INSERT INTO impressions (recommendation_id, item_id, user_id, position, score, reason,
                         model_version, platform, served_ms, arm, propensity)
VALUES (:recommendation_id, :item_id, :user_id, :position, :score, :reason, :model_version,
        :platform, :served_ms, :arm, :propensity);
