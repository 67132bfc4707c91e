-- Online evaluation (issue 11): what an A/B comparison and an off-policy estimate need logged,
-- and stored metrics with the arm and the feed position as dimensions.
--
-- recommendations.arm, impressions.arm: the A/B arm the user's stable hash put them in while a
-- test runs ('a': the active version, 'b': MEDIAREC_AB_MODEL_VERSION), whatever the feed then
-- served (a 'b' user answered by popularity is still arm 'b': intention to treat); NULL when no
-- test was configured.
-- impressions.propensity: the probability that the serving policy put this item in this slot,
-- 1 for the deterministic slots, 1/pool for a seeded exploration draw; NULL for impressions
-- logged before propensities were.
ALTER TABLE recommendations ADD COLUMN arm TEXT;
ALTER TABLE impressions ADD COLUMN arm TEXT;
ALTER TABLE impressions ADD COLUMN propensity REAL;

-- metrics gains `arm` ('all' when not split by arm) and `position` (0: every position up to k;
-- n: the impressions at position n only) in its key. The rows stored before are not copied:
-- they lack the new metrics, and the scheduled run recomputes every window from the first
-- impression on (its catch-up, bounded per run), since they are a cache of the impression log. numerator and denominator become REAL so
-- that a mean (online AUC, novelty, diversity) stores its sum and its count.
CREATE TABLE metrics_v2 (
    name            TEXT NOT NULL,
    granularity     TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms   INTEGER NOT NULL,
    platform        TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    arm             TEXT NOT NULL DEFAULT 'all',
    position        INTEGER NOT NULL DEFAULT 0,
    k               INTEGER NOT NULL,
    value           REAL,
    numerator       REAL NOT NULL,
    denominator     REAL NOT NULL,
    ci_low          REAL,
    ci_high         REAL,
    final           INTEGER NOT NULL DEFAULT 0,
    computed_ms     INTEGER NOT NULL,
    PRIMARY KEY (name, granularity, window_start_ms, platform, model_version, arm, position, k)
);
DROP TABLE metrics;
ALTER TABLE metrics_v2 RENAME TO metrics;
-- what the scheduled run's catch-up reads: the windows already stored, newest first
CREATE INDEX metrics_windows ON metrics (granularity, final, window_start_ms);
