//! The click-event parser (the stream processor's and the lake sink's first step) on arbitrary
//! bytes: it never panics, and an event it accepts survives its own JSON unchanged (what the
//! website would send for it reads back as the same event).
#![no_main]

use chrono::{DateTime, Utc};
use fashion_domain::event::ClickEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let arrived_at = DateTime::<Utc>::from_timestamp(1_795_000_000, 0).unwrap_or_default();
    if let Ok(event) = ClickEvent::parse(data, arrived_at) {
        let again = ClickEvent::parse(&event.to_json(), arrived_at);
        assert_eq!(again.as_ref().ok(), Some(&event), "{again:?}");
    }
});
