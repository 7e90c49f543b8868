//! Contract of [`CheckpointStore`].

use fashion_domain::ports::CheckpointStore;
use fashion_domain::stream::{SequenceNumber, ShardId};

/// Positions start absent, are remembered per consumer and shard, and never move backwards.
pub async fn checkpoint_store_contract(store: &dyn CheckpointStore) {
    let shard = ShardId("shardId-000000000000".into());
    let other = ShardId("shardId-000000000001".into());
    let seq = |n: &str| SequenceNumber(n.to_owned());

    assert_eq!(
        store.load("sink", &shard).await.expect("load"),
        None,
        "nothing committed yet"
    );

    store
        .commit(
            "sink",
            &shard,
            &seq("49590338271490256608559692538361571095921575989136588898"),
        )
        .await
        .expect("commit");
    store
        .commit("processor", &shard, &seq("7"))
        .await
        .expect("commit");
    assert_eq!(
        store.load("sink", &shard).await.expect("load"),
        Some(seq(
            "49590338271490256608559692538361571095921575989136588898"
        ))
    );
    assert_eq!(
        store.load("processor", &shard).await.expect("load"),
        Some(seq("7")),
        "consumers are independent"
    );
    assert_eq!(
        store.load("sink", &other).await.expect("load"),
        None,
        "shards are independent"
    );

    store
        .commit("processor", &shard, &seq("12"))
        .await
        .expect("commit");
    store
        .commit("processor", &shard, &seq("9"))
        .await
        .expect("commit of an older position");
    assert_eq!(
        store.load("processor", &shard).await.expect("load"),
        Some(seq("12")),
        "a commit of an older position must not move the checkpoint back (numeric, not text, order)"
    );
}
