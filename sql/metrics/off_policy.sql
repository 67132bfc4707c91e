-- The logged traffic an off-policy estimate replays (training/off_policy.py): every settled
-- impression of temp.window_outcomes (filled by precision_at_curation.sql's attribution rules,
-- so an engaged impression here is one PaC counts) with the propensity the serving policy
-- logged for it and the request its feed answered.

-- name: logged_slots
SELECT w.recommendation_id, w.user_id, w.platform, w.position, w.item_id, w.engaged,
       i.propensity, i.served_ms, r.k, r.request
FROM temp.window_outcomes w
JOIN impressions i ON i.recommendation_id = w.recommendation_id AND i.item_id = w.item_id
JOIN recommendations r ON r.recommendation_id = w.recommendation_id
ORDER BY i.served_ms, w.recommendation_id, w.position;

-- name: seen_before
-- The items a user had any event on before a feed was served: what that feed excluded.
SELECT DISTINCT item_id FROM events WHERE user_id = :user_id AND ts_ms < :before_ms;
