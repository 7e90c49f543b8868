-- The store's transactional database, PostgreSQL flavour (RDS on AWS, a local server otherwise).
-- Same tables and constraints as the SQLite flavour (store_sqlite_001.sql), in native types:
-- instants are timestamptz, ids and amounts bigint (cents), so nothing passes through floats.
--
-- Constraints are those a real store has: keys, NOT NULL where the checkout always writes a value,
-- unique e-mails, lines cascading with their order. Some are deliberately absent, as in real
-- stores: orders keep their customer id after an account is deleted (no foreign key), lines keep
-- a product id after a product leaves the catalog (no foreign key), and nothing forbids a bad
-- quantity written by a back-office tool. The daily job checks all of that itself and quarantines
-- what breaks its rules.
CREATE TABLE customers (
    customer_id      bigint PRIMARY KEY CHECK (customer_id > 0),
    name             text NOT NULL,
    email            text NOT NULL UNIQUE,
    city             text NOT NULL,
    country          text NOT NULL,
    segment          text NOT NULL,
    signed_up_at     timestamptz NOT NULL
);
CREATE TABLE products (
    product_id       bigint PRIMARY KEY CHECK (product_id > 0),
    gender           text NOT NULL,
    master_category  text NOT NULL,
    sub_category     text NOT NULL,
    article_type     text NOT NULL,
    base_colour      text,
    season           text,
    year             integer,
    usage            text,
    display_name     text NOT NULL,
    price_cents      bigint CHECK (price_cents >= 0)
);
CREATE TABLE orders (
    order_id         bigint PRIMARY KEY CHECK (order_id > 0),
    customer_id      bigint,
    ordered_at       timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL,
    total_cents      bigint NOT NULL,
    currency         text NOT NULL CHECK (length(currency) = 3)
);
-- The daily job selects a day by either instant: placed in the day, or recorded in it (late syncs).
CREATE INDEX orders_by_ordered_at ON orders (ordered_at);
CREATE INDEX orders_by_recorded_at ON orders (recorded_at);
CREATE TABLE order_items (
    item_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         bigint NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no          integer NOT NULL,
    product_id       bigint,
    quantity         integer NOT NULL,
    unit_price_cents bigint NOT NULL
);
CREATE INDEX order_items_by_order ON order_items (order_id, line_no);
