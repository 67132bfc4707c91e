-- Access control and deletion tombstones.
--
-- api_keys: one row per key. A key is `mrk_<key_id>_<secret>`; only the SHA-256 of the whole key
-- is stored (hex), never the key itself, so a copy of the database file does not grant access.
-- key_id is the short public prefix `mediarec keys list` shows. Scopes are space-separated
-- (ingest, read, metrics, admin). A revoked key keeps its row (revoked_ms) so that the list
-- still says when and which key stopped working.
CREATE TABLE api_keys (
    key_id        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    last_used_ms  INTEGER,
    revoked_ms    INTEGER
);

-- deleted_users: a tombstone per DELETE /users/{user_id}, holding the SHA-256 (hex) of the user id
-- rather than the id itself. Serving treats a tombstoned user as unknown to every model whose
-- training data was read before the deletion, until a model trained without them is active.
CREATE TABLE deleted_users (
    user_hash   TEXT PRIMARY KEY,
    deleted_ms  INTEGER NOT NULL
);
