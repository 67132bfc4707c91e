-- Writes of `mediarec import csv` (training/datasets/csv_log.py) beyond the ingest queries it reuses.

-- An item an interaction log names but the catalog lacks: a bare row, so that it can be
-- recommended. An item already in the catalog is left exactly as it is.
-- name: insert_item_if_absent
INSERT INTO items (item_id, kind, title, categories, published_ms, attributes, hidden,
                   created_ms, updated_ms)
VALUES (:item_id, :kind, NULL, '[]', NULL, '{}', 0, :now_ms, :now_ms)
ON CONFLICT (item_id) DO NOTHING;
