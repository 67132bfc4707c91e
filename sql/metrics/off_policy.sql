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
-- grow with the window's events in the order they arrived, so that each logged feed is ranked
-- again over exactly what the serving code could read when it served it. The window's events
-- wait in replay_pending, indexed by arrival (events has no such index).

-- name: create_pending_events
CREATE TABLE IF NOT EXISTS replay_pending AS SELECT * FROM events WHERE received_ms >= :from_ms;

-- name: index_pending_events
CREATE INDEX IF NOT EXISTS replay_pending_received ON replay_pending (received_ms);

-- name: hold_back_events
DELETE FROM events WHERE received_ms >= :from_ms;

-- name: replay_events
INSERT INTO events
SELECT * FROM replay_pending WHERE received_ms >= :after_ms AND received_ms < :until_ms;
