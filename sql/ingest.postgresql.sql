-- PostgreSQL's side of sql/ingest.sql: a new item draws its row number (SQLite's rowid, where
-- its row of the item-features snapshot sits) as one more than the largest; an update keeps it.
-- Two transactions drawing the same number at once collide on items_row_number and the engine
-- runs the loser again (functions/common/store/postgres_engine.py).

-- name: upsert_item
INSERT INTO items (item_id, kind, title, categories, published_ms, attributes, hidden,
                   created_ms, updated_ms, row_number)
VALUES (:item_id, :kind, :title, :categories, :published_ms, :attributes, :hidden,
        :now_ms, :now_ms, (SELECT COALESCE(MAX(row_number), 0) + 1 FROM items))
ON CONFLICT (item_id) DO UPDATE SET kind = excluded.kind,
                                    title = excluded.title,
                                    categories = excluded.categories,
                                    published_ms = excluded.published_ms,
                                    attributes = excluded.attributes,
                                    hidden = excluded.hidden,
                                    updated_ms = excluded.updated_ms;
