-- API keys (see sql/migrations/0005_access.sql): created and revoked by `mediarec keys`, looked
-- up by the request door (functions/common/http/api_keys.py).

-- name: insert_key
INSERT INTO api_keys (key_id, name, scopes, secret_hash, created_ms)
VALUES (:key_id, :name, :scopes, :secret_hash, :now_ms);

-- name: key_by_id
SELECT key_id, name, scopes, secret_hash, created_ms, last_used_ms, revoked_ms
FROM api_keys
WHERE key_id = :key_id;

-- name: list_keys
SELECT key_id, name, scopes, secret_hash, created_ms, last_used_ms, revoked_ms
FROM api_keys
ORDER BY created_ms, key_id;

-- name: revoke_key
UPDATE api_keys SET revoked_ms = :now_ms
WHERE key_id = :key_id AND revoked_ms IS NULL;

-- name: touch_key
UPDATE api_keys SET last_used_ms = :now_ms
WHERE key_id = :key_id AND (last_used_ms IS NULL OR last_used_ms < :now_ms);
