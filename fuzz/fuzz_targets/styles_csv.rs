//! The styles.csv loader on arbitrary text: it never panics, every line is a product or a
//! rejected row with a reason, and the products it accepts, written back with `write_styles`, load
//! as the same products (the catalog that `fashion generate` writes reads back whole).
#![no_main]

use fashion_domain::catalog_csv::{parse_styles, write_styles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(parsed) = parse_styles(text) else {
        return;
    };
    let data_lines = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .skip(1)
        .filter(|l| !l.trim_end_matches('\r').trim().is_empty())
        .count();
    assert_eq!(
        parsed.products.len() + parsed.rejected.len(),
        data_lines,
        "each line is loaded or rejected"
    );
    let written = write_styles(&parsed.products);
    let again = parse_styles(&written).map(|p| (p.products, p.rejected));
    assert_eq!(
        again.as_ref().map(|(products, _)| products),
        Ok(&parsed.products),
        "written back:\n{written}\n{again:?}"
    );
});
