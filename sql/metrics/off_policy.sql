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

-- A replay store: a copy of the database whose events stop where the window starts, then
-- grow with the live store's events in the order they arrived, so that each logged feed is
-- ranked again over exactly what the serving code could read when it served it.

-- name: hold_back_events
DELETE FROM events WHERE received_ms >= :from_ms;

-- name: attach_live
ATTACH DATABASE :path AS live;

-- name: detach_live
DETACH DATABASE live;

-- name: replay_events
INSERT INTO main.events
SELECT * FROM live.events WHERE received_ms >= :after_ms AND received_ms < :until_ms;
