-- Precision at Curation and the other feed metrics over impressions served in
-- [:from_ms, :to_ms) (DESIGN.md section 3), computed in two steps: fill_window_outcomes settles
-- every impression (position <= :k) as engaged / clicked or not, once per window, into
-- temp.window_outcomes; every metric below is then one GROUP BY over that table.
--
-- An impression is a hit when the same user sent a positive event for the same item within
-- :window_ms after the impression (and at most :skew_ms before it, for client clock skew),
-- attributed like this:
--   * an event that carries a recommendation_id counts for that recommendation only;
--   * an event without one counts for the most recent impression of that item for that user at
--     or before the event (plus :skew_ms), so a superseded earlier impression gets no credit.
-- impressions has (recommendation_id, item_id) as its primary key, and an impression is engaged
-- or not (MAX over its events), so duplicate events never count twice.

-- name: create_window_outcomes
CREATE TEMP TABLE IF NOT EXISTS window_outcomes (
    recommendation_id TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    platform          TEXT NOT NULL,
    model_version     TEXT NOT NULL,
    arm               TEXT NOT NULL,
    position          INTEGER NOT NULL,
    score             REAL NOT NULL,
    reason            TEXT NOT NULL,
    engaged           INTEGER NOT NULL,
    clicked           INTEGER NOT NULL,
    PRIMARY KEY (recommendation_id, item_id)
);

-- name: clear_window_outcomes
DELETE FROM temp.window_outcomes;

-- name: fill_window_outcomes
INSERT INTO temp.window_outcomes (recommendation_id, item_id, user_id, platform, model_version,
                                  arm, position, score, reason, engaged, clicked)
{{window_outcome_rows}};

-- name: window_outcome_rows
-- Every impression of the window up to :k with its outcome: what fill_window_outcomes stores on
-- SQLite, and what PostgreSQL computes inside each query that reads window_outcomes
-- (sql/metrics/precision_at_curation.postgresql.sql).
WITH shown AS (
    SELECT i.recommendation_id, i.item_id, i.user_id, i.served_ms, i.platform, i.model_version,
           COALESCE(i.arm, 'none') AS arm, i.position, i.score, i.reason
    FROM impressions i
    WHERE i.served_ms >= :from_ms AND i.served_ms < :to_ms
      AND i.position <= :k
      AND (:platform IS NULL OR i.platform = :platform)
),
credited AS (
    SELECT s.recommendation_id, s.item_id,
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
    GROUP BY s.recommendation_id, s.item_id
)
SELECT s.recommendation_id, s.item_id, s.user_id, s.platform, s.model_version, s.arm,
       s.position, s.score, s.reason, COALESCE(c.engaged, 0) AS engaged,
       COALESCE(c.clicked, 0) AS clicked
FROM shown s
LEFT JOIN credited c
  ON c.recommendation_id = s.recommendation_id AND c.item_id = s.item_id;

-- name: outcomes_by_slice
-- PaC and CTR counts per platform, model version and A/B arm ('none' outside a test).
SELECT platform, model_version, arm,
       COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM temp.window_outcomes
GROUP BY platform, model_version, arm
ORDER BY platform, model_version, arm;

-- name: outcomes_by_position
SELECT position, COUNT(*) AS impressions, SUM(engaged) AS engaged, SUM(clicked) AS clicked
FROM temp.window_outcomes
GROUP BY position
ORDER BY position;

-- name: items_shown
SELECT COUNT(DISTINCT item_id) AS items FROM temp.window_outcomes;

-- name: catalog_size
SELECT COUNT(*) AS items FROM items WHERE hidden = 0;

-- name: feed_auc
-- Online AUC: within each feed that has both an engaged and an unengaged impression of the same
-- reason, the probability that an engaged item was served with a higher score than an
-- unengaged one of that reason (ties count half: the Mann-Whitney statistic), from those pairs;
-- summed per slice, with the number of such feeds, so that the caller takes the mean. Within a
-- feed and a reason, because scores of different policies (popularity counts, model logits,
-- exploration's 0) are not on one scale, even inside one feed.
WITH feeds AS (
    SELECT p.recommendation_id, p.platform, p.model_version, p.arm,
           AVG(CASE WHEN p.score > n.score THEN 1.0
                    WHEN p.score = n.score THEN 0.5
                    ELSE 0.0 END) AS auc
    FROM temp.window_outcomes p
    JOIN temp.window_outcomes n
      ON n.recommendation_id = p.recommendation_id AND n.reason = p.reason AND n.engaged = 0
    WHERE p.engaged = 1
    GROUP BY p.recommendation_id, p.platform, p.model_version, p.arm
)
SELECT platform, model_version, arm, SUM(auc) AS auc_sum, COUNT(*) AS feeds
FROM feeds
GROUP BY platform, model_version, arm
ORDER BY platform, model_version, arm;

-- name: create_popularity_ranks
-- Novelty's popularity ranks, computed once per day a run needs them (every hour window of a
-- day shares its day's ranks).
CREATE TEMP TABLE IF NOT EXISTS popularity_ranks (
    as_of_ms        INTEGER NOT NULL,
    item_id         TEXT NOT NULL,
    popularity_rank INTEGER NOT NULL,
    PRIMARY KEY (as_of_ms, item_id)
);

-- name: clear_popularity_ranks
DELETE FROM temp.popularity_ranks;

-- name: popularity_ranked
SELECT COUNT(*) AS items FROM temp.popularity_ranks WHERE as_of_ms = :as_of_ms;

-- name: fill_popularity_ranks
-- Popularity as of :as_of_ms (the end of the day the window ends in): the positive events
-- received per item in the :novelty_ms before it, ranked (1 = the most engaged item). A
-- sentinel row (item_id '') marks a day computed with no events at all.
INSERT INTO temp.popularity_ranks (as_of_ms, item_id, popularity_rank)
{{popularity_rank_rows}};

-- name: popularity_rank_rows
-- The ranks fill_popularity_ranks stores (PostgreSQL computes them inside novelty instead).
SELECT :as_of_ms AS as_of_ms, item_id, RANK() OVER (ORDER BY COUNT(*) DESC) AS popularity_rank
FROM events
WHERE received_ms >= :as_of_ms - :novelty_ms AND received_ms < :as_of_ms
  AND event_type IN (:positive_types)
GROUP BY item_id
UNION ALL
SELECT :as_of_ms, '', 0;

-- name: novelty
-- Novelty: the mean popularity rank of the impressed items (temp.popularity_ranks as of
-- :as_of_ms, reproducible for any past window); an item without any ranks after the last
-- ranked one.
WITH ranks AS (
    SELECT item_id, popularity_rank FROM temp.popularity_ranks
    WHERE as_of_ms = :as_of_ms AND item_id <> ''
),
unranked AS (SELECT COUNT(*) + 1 AS popularity_rank FROM ranks)
SELECT o.platform, o.model_version, o.arm,
       SUM(COALESCE(r.popularity_rank, u.popularity_rank)) AS rank_sum, COUNT(*) AS impressions
FROM temp.window_outcomes o
CROSS JOIN unranked u
LEFT JOIN ranks r ON r.item_id = o.item_id
GROUP BY o.platform, o.model_version, o.arm
ORDER BY o.platform, o.model_version, o.arm;

-- name: diversity
-- Intra-list diversity: per feed, the share of its category labels (item_categories, over its
-- impressions up to k) that are distinct: 1 when no category repeats, 1/k when every item has
-- the same single one. Summed per slice with the number of feeds that have any label.
WITH labels AS (
    SELECT o.recommendation_id, o.platform, o.model_version, o.arm, c.category
    FROM temp.window_outcomes o
    JOIN item_categories c ON c.item_id = o.item_id
),
feeds AS (
    SELECT platform, model_version, arm,
           COUNT(DISTINCT category) * 1.0 / COUNT(*) AS distinct_share
    FROM labels
    GROUP BY recommendation_id, platform, model_version, arm
)
SELECT platform, model_version, arm, SUM(distinct_share) AS share_sum, COUNT(*) AS feeds
FROM feeds
GROUP BY platform, model_version, arm
ORDER BY platform, model_version, arm;
