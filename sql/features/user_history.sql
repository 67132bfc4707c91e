-- A user's most recent interactions, the model's history input at serving time. An interaction is
-- a distinct (user, item) pair with an event of the model's interaction types, stamped with its
-- first such event: the same definition as sql/training.sql's `interactions`, ordered the same
-- way (time, then item id), newest first here (the caller reverses it).

-- name: recent_interactions
SELECT item_id, MIN(ts_ms) AS ts_ms
FROM events
WHERE user_id = :user_id
  AND event_type IN (:types)
  AND ts_ms <= :as_of_ms
GROUP BY item_id
ORDER BY MIN(ts_ms) DESC, item_id DESC
LIMIT :limit;
