-- Deletion tombstones (deleted_users, migration 0005), read by functions/common/store/tombstones.py.

-- name: user_deleted_ms
-- The user's deletion tombstone, looked up by the SHA-256 of the id (primary key).
SELECT deleted_ms FROM deleted_users WHERE user_hash = :user_hash;
