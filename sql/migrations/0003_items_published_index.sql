-- fresh_items orders by (published_ms DESC, item_id DESC): one index serves the whole order
-- instead of a sort of the catalog on every request.

DROP INDEX IF EXISTS items_published;
CREATE INDEX items_published_item ON items (published_ms, item_id);
