-- PostgreSQL's side of sql/datasets/imports.sql: a new item draws its row number as in
-- sql/ingest.postgresql.sql.

-- name: insert_item_if_absent
INSERT INTO items (item_id, kind, title, categories, published_ms, attributes, hidden,
                   created_ms, updated_ms, row_number)
VALUES (:item_id, :kind, NULL, '[]', NULL, '{}', 0, :now_ms, :now_ms,
        (SELECT COALESCE(MAX(row_number), 0) + 1 FROM items))
ON CONFLICT (item_id) DO NOTHING;
