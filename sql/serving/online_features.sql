-- The item-features snapshot at serving time (functions/common/serving/online_features.py): where
-- each item's row goes, the stored table, and the candidates a request looks up.

-- name: item_features_table
SELECT item_ids, columns, features FROM item_features_snapshot WHERE generation = :generation;

-- name: item_rows
-- Where each catalog item's features go in the item-features snapshot: at its rowid.
SELECT rowid AS row_number, item_id FROM items;

-- name: candidate_items
-- The visible items among :item_ids (a JSON array) that pass the kind/category filters, with their
-- rowids (their rows in the item-features snapshot). The items_serving index answers it without
-- reading table rows unless a category is asked for. One JSON parameter rather than an expanded
-- list keeps the statement text constant, so it is prepared once per connection, not per request
-- (preparing 400 placeholders cost as much as running the query).
SELECT i.item_id, i.kind, i.rowid
FROM items i
WHERE i.item_id IN (SELECT value FROM json_each(:item_ids))
  AND i.hidden = 0
  AND (:kind IS NULL OR i.kind = :kind)
  AND (:category IS NULL OR EXISTS (SELECT 1 FROM item_categories c
                                    WHERE c.item_id = i.item_id AND c.category = :category));
