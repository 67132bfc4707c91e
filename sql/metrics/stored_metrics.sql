-- The metrics table: what the scheduled evaluation stores (functions/metrics/schedule.py) and
-- where its catch-up starts.

-- name: upsert_metric
-- Running a window again replaces its rows: the scheduled run is idempotent.
INSERT INTO metrics (name, granularity, window_start_ms, window_end_ms, platform, model_version,
                     arm, position, k, value, numerator, denominator, ci_low, ci_high, final,
                     computed_ms)
VALUES (:name, :granularity, :window_start_ms, :window_end_ms, :platform, :model_version,
        :arm, :position, :k, :value, :numerator, :denominator, :ci_low, :ci_high, :final,
        :computed_ms)
ON CONFLICT (name, granularity, window_start_ms, platform, model_version, arm, position, k)
DO UPDATE SET
    window_end_ms = excluded.window_end_ms,
    value = excluded.value,
    numerator = excluded.numerator,
    denominator = excluded.denominator,
    ci_low = excluded.ci_low,
    ci_high = excluded.ci_high,
    final = excluded.final,
    computed_ms = excluded.computed_ms;

-- name: last_final_window_end
-- The end of the newest window of a granularity stored as final (its attribution period had
-- closed): the catch-up resumes there. NULL when none is.
SELECT MAX(window_end_ms) AS end_ms
FROM metrics
WHERE granularity = :granularity AND final = 1 AND name = 'pac' AND k = :k;

-- name: first_impression
SELECT MIN(served_ms) AS served_ms FROM impressions;

-- name: stored_window
-- Every stored row of one window (GET /metrics answers an hour or day window the schedule has
-- computed from these rows instead of recomputing it).
SELECT name, platform, model_version, arm, position, value, numerator, denominator, ci_low,
       ci_high, final, computed_ms
FROM metrics
WHERE granularity = :granularity AND window_start_ms = :window_start_ms AND k = :k;

-- name: hours_stored
-- How many distinct hour windows of [:from_ms, :to_ms) are stored for k, final ones only when
-- :final is 1 (a day is composed from its hours only when all 24 are; a final day only from
-- final hours).
SELECT COUNT(DISTINCT window_start_ms) AS hours
FROM metrics
WHERE granularity = 'hour' AND name = 'pac' AND platform = 'all' AND model_version = 'all'
  AND arm = 'all' AND position = 0 AND k = :k AND final >= :final
  AND window_start_ms >= :from_ms AND window_start_ms < :to_ms;

-- name: hour_sums
-- Every stored metric row of the hours in [:from_ms, :to_ms), summed per metric and slice: the
-- day's counts (PaC, CTR, by position) and sums and counts (the means), since each impression
-- and each feed belongs to exactly one hour. Coverage is left out: distinct items do not add.
SELECT name, platform, model_version, arm, position,
       SUM(numerator) AS numerator, SUM(denominator) AS denominator
FROM metrics
WHERE granularity = 'hour' AND k = :k AND name <> 'coverage'
  AND window_start_ms >= :from_ms AND window_start_ms < :to_ms
GROUP BY name, platform, model_version, arm, position;

-- name: items_shown_between
-- Coverage's numerator for a composed day: the distinct items impressed up to :k.
SELECT COUNT(DISTINCT item_id) AS items
FROM impressions
WHERE served_ms >= :from_ms AND served_ms < :to_ms AND position <= :k;

-- name: delete_window
-- A window's rows go before its new ones are written (one transaction): a slice that has
-- disappeared since (a deleted user's platform or version) leaves no stale row behind.
DELETE FROM metrics
WHERE granularity = :granularity AND window_start_ms = :window_start_ms AND k = :k;
