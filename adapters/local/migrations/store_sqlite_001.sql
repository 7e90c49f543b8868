-- The store's transactional database, SQLite flavour (the embedded default). The PostgreSQL
-- flavour (store_postgres_001.sql) has the same tables and constraints.
--
-- Constraints are those a real store has: keys, NOT NULL where the checkout always writes a value,
-- unique e-mails, lines cascading with their order. Some are deliberately absent, as in real
-- stores: orders keep their customer id after an account is deleted (no foreign key), lines keep
-- a product id after a product leaves the catalog (no foreign key), and nothing forbids a bad
-- quantity written by a back-office tool. The daily job checks all of that itself and quarantines
-- what breaks its rules.
CREATE TABLE customers (
    customer_id   INTEGER PRIMARY KEY CHECK (customer_id > 0),
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    city          TEXT NOT NULL,
    country       TEXT NOT NULL,
    segment       TEXT NOT NULL,
    signed_up_at  INTEGER NOT NULL              -- microseconds since the epoch, UTC
);
CREATE TABLE products (
    product_id    INTEGER PRIMARY KEY CHECK (product_id > 0),
    gender        TEXT NOT NULL,
    master_category TEXT NOT NULL,
    sub_category  TEXT NOT NULL,
    article_type  TEXT NOT NULL,
    base_colour   TEXT,
    season        TEXT,
    year          INTEGER,
    usage         TEXT,
    display_name  TEXT NOT NULL,
    price_cents   INTEGER CHECK (price_cents >= 0)
);
CREATE TABLE orders (
    order_id      INTEGER PRIMARY KEY CHECK (order_id > 0),
    customer_id   INTEGER,
    ordered_at    INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    status        TEXT NOT NULL,
    total_cents   INTEGER NOT NULL,
    currency      TEXT NOT NULL CHECK (length(currency) = 3)
);
CREATE INDEX orders_by_ordered_at ON orders (ordered_at);
CREATE INDEX orders_by_recorded_at ON orders (recorded_at);
CREATE TABLE order_items (
    item_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id      INTEGER NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no       INTEGER NOT NULL,
    product_id    INTEGER,
    quantity      INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL
);
CREATE INDEX order_items_by_order ON order_items (order_id, line_no);
