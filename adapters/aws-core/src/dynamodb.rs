//! The DynamoDB tables' key schemas, indexes and TTL attributes: the adapters read and write
//! items by these names, provisioning creates the tables with them, the tests create their
//! tables from them.

/// Partition key of the recommendations and activity tables: the customer id (number).
pub const CUSTOMER_ID: &str = "customer_id";
/// The activity table's TTL attribute (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// Partition key of the checkpoints table: the consumer's name (string).
pub const CONSUMER: &str = "consumer";
/// Sort key of the checkpoints table: the shard id (string).
pub const SHARD: &str = "shard";
/// Partition key of the product catalog: the product id (number).
pub const PRODUCT_ID: &str = "product_id";
/// Partition key of the dead-letter table: the letter's idempotency key (string).
pub const DEAD_LETTER_KEY: &str = "dead_letter_key";
/// The dead-letter table's index ordering letters by time.
pub const DEAD_LETTERS_TIME_INDEX: &str = "by_time";
/// Partition key of [`DEAD_LETTERS_TIME_INDEX`] (one value for every letter).
pub const FEED: &str = "feed";
/// Sort key of [`DEAD_LETTERS_TIME_INDEX`]: when the letter was set aside, as fixed-width UTC
/// text, so text order is time order.
pub const SET_ASIDE_AT: &str = "set_aside_at";

/// A key attribute's DynamoDB type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    /// `S`.
    String,
    /// `N`.
    Number,
}

impl AttributeKind {
    /// DynamoDB's code for it (`S`, `N`).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::String => "S",
            Self::Number => "N",
        }
    }
}

/// A key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    /// The attribute's name.
    pub name: &'static str,
    /// Its type.
    pub kind: AttributeKind,
}

/// A key: the partition key and, for a composite key, the sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySchema {
    /// `HASH`.
    pub partition: KeyAttribute,
    /// `RANGE`, if any.
    pub sort: Option<KeyAttribute>,
}

/// A global secondary index projecting every attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalIndex {
    /// The index's name.
    pub name: &'static str,
    /// Its key.
    pub key: KeySchema,
}

/// One table's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    /// The primary key.
    pub key: KeySchema,
    /// Its global secondary index, if any.
    pub index: Option<GlobalIndex>,
    /// The attribute holding the expiry time (epoch seconds), if items expire.
    pub ttl_attribute: Option<&'static str>,
}

const fn attribute(name: &'static str, kind: AttributeKind) -> KeyAttribute {
    KeyAttribute { name, kind }
}

const fn simple(partition: KeyAttribute) -> KeySchema {
    KeySchema {
        partition,
        sort: None,
    }
}

/// Latest recommendations per customer.
pub const RECOMMENDATIONS: TableSchema = TableSchema {
    key: simple(attribute(CUSTOMER_ID, AttributeKind::Number)),
    index: None,
    ttl_attribute: None,
};

/// Recent activity per customer; items expire.
pub const USER_ACTIVITY: TableSchema = TableSchema {
    key: simple(attribute(CUSTOMER_ID, AttributeKind::Number)),
    index: None,
    ttl_attribute: Some(EXPIRES_AT),
};

/// Stream consumers' checkpoints, per consumer and shard.
pub const CHECKPOINTS: TableSchema = TableSchema {
    key: KeySchema {
        partition: attribute(CONSUMER, AttributeKind::String),
        sort: Some(attribute(SHARD, AttributeKind::String)),
    },
    index: None,
    ttl_attribute: None,
};

/// The product catalog.
pub const PRODUCTS: TableSchema = TableSchema {
    key: simple(attribute(PRODUCT_ID, AttributeKind::Number)),
    index: None,
    ttl_attribute: None,
};

/// Dead letters, keyed by their idempotency key, listed oldest first per feed through the time
/// index.
pub const DEAD_LETTERS: TableSchema = TableSchema {
    key: simple(attribute(DEAD_LETTER_KEY, AttributeKind::String)),
    index: Some(GlobalIndex {
        name: DEAD_LETTERS_TIME_INDEX,
        key: KeySchema {
            partition: attribute(FEED, AttributeKind::String),
            sort: Some(attribute(SET_ASIDE_AT, AttributeKind::String)),
        },
    }),
    ttl_attribute: None,
};
