-- PostgreSQL's side of sql/store/copy.sql: items' row number is a column of its own there
-- (sql/migrations/postgresql/0001_schema.sql), not a rowid.

-- name: first_items
SELECT item_id,
       kind,
       title,
       categories,
       published_ms,
       attributes,
       hidden,
       created_ms,
       updated_ms,
       row_number
FROM items
ORDER BY item_id
LIMIT :limit;

-- name: read_items
SELECT item_id,
       kind,
       title,
       categories,
       published_ms,
       attributes,
       hidden,
       created_ms,
       updated_ms,
       row_number
FROM items
WHERE item_id > :after_item_id
ORDER BY item_id
LIMIT :limit;

-- name: write_items
INSERT INTO items (item_id, kind, title, categories, published_ms, attributes, hidden, created_ms, updated_ms, row_number)
VALUES (:item_id, :kind, :title, :categories, :published_ms, :attributes, :hidden, :created_ms, :updated_ms, :row_number)
ON CONFLICT DO NOTHING;
