-- PostgreSQL's side of sql/serving/online_features.sql: an item's row in the item-features
-- snapshot is its row_number column (SQLite's rowid), and the candidate ids come as a JSON array.

-- name: item_rows
SELECT row_number, item_id FROM items;

-- name: candidate_items
SELECT i.item_id, i.kind, i.row_number
FROM items i
WHERE i.item_id IN (SELECT value FROM json_array_elements_text(CAST(:item_ids AS json)))
  AND i.hidden = 0
  AND (:kind IS NULL OR i.kind = :kind)
  AND (:category IS NULL OR EXISTS (SELECT 1 FROM item_categories c
                                    WHERE c.item_id = i.item_id AND c.category = :category));
