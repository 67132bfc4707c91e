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
