//! Reads and writes the Kaggle `styles.csv` format, including the quirks of the real file.
//!
//! The real file is not proper CSV: `productDisplayName` is the last column and is written without
//! quotes, so names such as `Puma Men's, Black T-shirt` make a row with more than ten fields. The
//! extra fields belong to the name. A few rows also have an empty `year`. Every row is either turned
//! into a [`Product`] or reported as a [`RejectedRow`] with a reason; nothing is dropped silently.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ids::ProductId;
use crate::money::Cents;
use crate::product::Product;

/// The header of the original file.
pub const STYLES_HEADER: &str = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName";

const BASE_COLUMNS: usize = 10;

/// The longest line accepted, in bytes (a real row is about 150).
pub const MAX_LINE_BYTES: usize = 4096;
/// The longest attribute (gender, categories, colour, season, usage), in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 100;
/// The longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 500;

/// A row that could not be imported, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// Why the row was refused.
    pub reason: String,
    /// The row as it was read (truncated to 200 characters).
    pub raw: String,
}

/// What a parse of a whole file produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StylesParse {
    /// Rows that became products, in file order.
    pub products: Vec<Product>,
    /// Rows that were refused, in file order.
    pub rejected: Vec<RejectedRow>,
}

/// Why a whole file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StylesFileError {
    /// The file has no header line.
    #[error("the file is empty: expected the styles.csv header")]
    Empty,
    /// The header is not the styles.csv header (with or without `price`).
    #[error(
        "unexpected header {found:?}: expected {STYLES_HEADER:?} optionally followed by ,price"
    )]
    BadHeader {
        /// The header line that was found.
        found: String,
    },
}

/// Parses the whole text of a `styles.csv`, with or without a trailing `price` column.
///
/// # Errors
/// [`StylesFileError`] when the header is missing or wrong; bad rows are not errors but
/// [`RejectedRow`]s.
pub fn parse_styles(text: &str) -> Result<StylesParse, StylesFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or(StylesFileError::Empty)?;
    let header = header.trim_end_matches('\r').trim();
    let has_price = match header.strip_prefix(STYLES_HEADER) {
        Some("") => false,
        Some(",price") => true,
        _ => {
            return Err(StylesFileError::BadHeader {
                found: header.chars().take(200).collect(),
            });
        }
    };
    let mut out = StylesParse::default();
    let mut seen = HashSet::new();
    for (idx, raw) in lines {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let line_no = idx.saturating_add(1);
        let parsed = if line.len() > MAX_LINE_BYTES {
            Err(format!(
                "line of {} bytes, longer than {MAX_LINE_BYTES}",
                line.len()
            ))
        } else {
            parse_row(line, has_price)
        };
        match parsed {
            Ok(p) if !seen.insert(p.id) => out.rejected.push(RejectedRow {
                line: line_no,
                reason: format!("duplicate id {}", p.id),
                raw: line.chars().take(200).collect(),
            }),
            Ok(p) => out.products.push(p),
            Err(reason) => out.rejected.push(RejectedRow {
                line: line_no,
                reason,
                raw: line.chars().take(200).collect(),
            }),
        }
    }
    Ok(out)
}

/// Splits a line on commas, honouring double-quoted fields where a writer used them.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::with_capacity(BASE_COLUMNS + 1);
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            '"' if at_start => quoted = true,
            _ => cur.push(c),
        }
        at_start = false;
    }
    fields.push(cur);
    fields
}

fn parse_row(line: &str, has_price: bool) -> Result<Product, String> {
    let fields = split_fields(line);
    let expected = BASE_COLUMNS.saturating_add(usize::from(has_price));
    if fields.len() < expected {
        return Err(format!(
            "expected at least {expected} fields, found {}",
            fields.len()
        ));
    }
    // The name is the tenth field and everything after it but the price: the real file has
    // names with unquoted commas.
    let (name_fields, price) = if has_price {
        let (last, rest) = fields.split_last().ok_or("empty row")?;
        (rest.get(BASE_COLUMNS - 1..), Some(last.as_str()))
    } else {
        (fields.get(BASE_COLUMNS - 1..), None)
    };
    let field = |i: usize| fields.get(i).map_or("", |f| f.trim());
    let id = ProductId::parse(field(0)).map_err(|e| e.to_string())?;
    let bounded = |i: usize, col: &str| -> Result<Option<String>, String> {
        let v = field(i);
        let chars = v.chars().count();
        if chars > MAX_ATTRIBUTE_CHARS {
            return Err(format!(
                "{col} of {chars} characters, longer than {MAX_ATTRIBUTE_CHARS}"
            ));
        }
        Ok((!v.is_empty()).then(|| v.to_owned()))
    };
    let required = |i: usize, col: &str| bounded(i, col)?.ok_or_else(|| format!("missing {col}"));
    let year = match field(7) {
        "" => None,
        y => {
            // The real file writes some years as "2012.0".
            let y = y.strip_suffix(".0").unwrap_or(y);
            Some(
                y.parse::<u16>()
                    .ok()
                    .filter(|v| (1900..=2100).contains(v))
                    .ok_or_else(|| format!("invalid year {y:?}"))?,
            )
        }
    };
    let price = match price.map(str::trim) {
        None | Some("") => None,
        Some(p) => {
            let c = Cents::parse(p).map_err(|e| format!("invalid price: {e}"))?;
            if c.is_negative() {
                return Err(format!("negative price {c}"));
            }
            Some(c)
        }
    };
    let product_display_name = name_fields.unwrap_or_default().join(",").trim().to_owned();
    let name_chars = product_display_name.chars().count();
    if name_chars > MAX_NAME_CHARS {
        return Err(format!(
            "productDisplayName of {name_chars} characters, longer than {MAX_NAME_CHARS}"
        ));
    }
    Ok(Product {
        id,
        gender: required(1, "gender")?,
        master_category: required(2, "masterCategory")?,
        sub_category: required(3, "subCategory")?,
        article_type: required(4, "articleType")?,
        base_colour: bounded(5, "baseColour")?,
        season: bounded(6, "season")?,
        year,
        usage: bounded(8, "usage")?,
        product_display_name,
        price,
    })
}

/// Writes products in exactly the `styles.csv` layout (unquoted name, with a `price` column),
/// so that the loader treats generated and real files alike. A value the loader would split or
/// unquote is written double-quoted (quotes doubled): an attribute with a comma or a leading
/// quote, a name with a part that starts with a quote (the name's own commas need no quotes).
/// Whatever [`parse_styles`] accepts, written here, loads back as the same products.
#[must_use]
pub fn write_styles(products: &[Product]) -> String {
    let mut out = String::with_capacity(products.len().saturating_mul(96));
    out.push_str(STYLES_HEADER);
    out.push_str(",price\n");
    for p in products {
        let name = &p.product_display_name;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            p.id,
            attribute(&p.gender),
            attribute(&p.master_category),
            attribute(&p.sub_category),
            attribute(&p.article_type),
            attribute(p.base_colour.as_deref().unwrap_or("")),
            attribute(p.season.as_deref().unwrap_or("")),
            p.year.map(|y| y.to_string()).unwrap_or_default(),
            attribute(p.usage.as_deref().unwrap_or("")),
            csv_field(name, name.split(',').any(|part| part.starts_with('"'))),
            p.price.map(|c| c.to_string()).unwrap_or_default(),
        );
    }
    out
}

/// An attribute: quoted when it has a comma or starts with a quote.
fn attribute(v: &str) -> std::borrow::Cow<'_, str> {
    csv_field(v, v.contains(',') || v.starts_with('"'))
}

/// `v` as is, or double-quoted with its quotes doubled.
fn csv_field(v: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    if quote {
        std::borrow::Cow::Owned(format!("\"{}\"", v.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rows shaped like the real Kaggle file, tricky ones included.
    const REAL_ROWS: &str = "\
id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName
15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt
39386,Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,Peter England Men Party Blue Jeans
11399,Boys,Apparel,Topwear,Tshirts,Red,Summer,,Casual,Doodle Kids Boy's Red T-shirt
12967,Women,Accessories,Bags,Handbags,Black,Summer,2011,Casual,Baggit Women, Black, Handbag
53759,Men,Apparel,Topwear,Tshirts,Grey,Summer,2012.0,Casual,Puma Men Grey T-shirt
";

    #[test]
    fn unquoted_commas_stay_in_the_display_name_and_empty_year_is_allowed() {
        let parsed = parse_styles(REAL_ROWS).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(parsed.products.len(), 5);
        let bag = &parsed.products[3];
        assert_eq!(bag.product_display_name, "Baggit Women, Black, Handbag");
        assert_eq!(bag.article_type, "Handbags");
        assert_eq!(parsed.products[2].year, None);
        assert_eq!(parsed.products[4].year, Some(2012));
    }

    #[test]
    fn every_bad_row_is_rejected_with_a_reason_and_line_number() {
        let text = "\
id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName,price
1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Good Shirt,19.99
x,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Bad Id,19.99
3,Men,Apparel,Topwear,,Blue,Fall,2011,Casual,No Article Type,19.99
4,Men,Apparel,Topwear,Shirts,Blue,Fall,20x1,Casual,Bad Year,19.99
5,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Bad Price,1.999
6,Men,Apparel
1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Duplicate,5.00
7,Women,Apparel,Topwear,Tops,Pink,Summer,2012,Casual,Name, With, Commas,24.50
";
        let parsed = parse_styles(text).unwrap();
        assert_eq!(parsed.products.len(), 2);
        assert_eq!(
            parsed.products[1].product_display_name,
            "Name, With, Commas"
        );
        assert_eq!(parsed.products[1].price, Some(Cents(2450)));
        let reasons: Vec<(usize, &str)> = parsed
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 6);
        assert!(reasons[0].1.contains("product id"));
        assert_eq!(reasons[1], (4, "missing articleType"));
        assert!(reasons[2].1.contains("invalid year"));
        assert!(reasons[3].1.contains("invalid price"));
        assert!(reasons[4].1.contains("expected at least 11 fields"));
        assert_eq!(reasons[5], (8, "duplicate id 1"));
    }

    /// Issue 14: oversize lines, attributes and names are rejected with a reason, so no store
    /// (a DynamoDB item, a lake column) receives an unbounded value.
    #[test]
    fn oversize_lines_attributes_and_names_are_rejected() {
        let header = STYLES_HEADER;
        let long_colour = "Blue".repeat(30);
        let long_name = "Shirt ".repeat(100);
        let long_line = format!(
            "9,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,{}",
            "x".repeat(5000)
        );
        let text = format!(
            "{header}\n1,Men,Apparel,Topwear,Shirts,{long_colour},Fall,2011,Casual,Shirt\n\
             2,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,{long_name}\n{long_line}\n\
             3,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Fine Shirt\n"
        );
        let parsed = parse_styles(&text).unwrap();
        assert_eq!(parsed.products.len(), 1);
        let reasons: Vec<&str> = parsed.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert!(
            reasons[0].contains("baseColour of 120 characters"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("productDisplayName of"), "{reasons:?}");
        assert!(reasons[2].contains("longer than 4096"), "{reasons:?}");
        assert!(parsed.rejected.iter().all(|r| r.raw.chars().count() <= 200));
    }

    #[test]
    fn a_wrong_header_is_an_error_not_a_pile_of_rejections() {
        assert_eq!(parse_styles(""), Err(StylesFileError::Empty));
        assert!(matches!(
            parse_styles("a,b,c\n1,2,3"),
            Err(StylesFileError::BadHeader { .. })
        ));
    }

    #[test]
    fn written_catalogs_read_back_identically() {
        let parsed = parse_styles(REAL_ROWS).unwrap();
        let again = parse_styles(&write_styles(&parsed.products)).unwrap();
        assert!(again.rejected.is_empty());
        assert_eq!(again.products, parsed.products);
    }

    /// Found by the `styles_csv` fuzz target: values with commas or leading quotes were written
    /// bare, so the written file split or unquoted them differently.
    #[test]
    fn values_with_commas_and_quotes_are_written_so_that_they_read_back() {
        let text = format!(
            "{STYLES_HEADER},price\n\
             1,\"Men, Boys\",Apparel,Topwear,\"\"\"Shirts\"\"\",,,,,\"\"\"Grey\"\" T-shirt\"\"\",9.50\n\
             2,Men,Apparel,Topwear,Shirts,,,,,\"a,\"\"b\",\n"
        );
        let parsed = parse_styles(&text).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(parsed.products[0].gender, "Men, Boys");
        assert_eq!(parsed.products[0].article_type, "\"Shirts\"");
        assert_eq!(
            parsed.products[0].product_display_name,
            "\"Grey\" T-shirt\""
        );
        assert_eq!(parsed.products[1].product_display_name, "a,\"b");
        let again = parse_styles(&write_styles(&parsed.products)).unwrap();
        assert!(again.rejected.is_empty(), "{:?}", again.rejected);
        assert_eq!(again.products, parsed.products);
    }

    #[test]
    fn crlf_line_endings_and_a_byte_order_mark_are_accepted() {
        let text = format!("\u{feff}{}", REAL_ROWS.replace('\n', "\r\n"));
        let parsed = parse_styles(&text).unwrap();
        assert_eq!(parsed.products.len(), 5);
        assert_eq!(
            parsed.products[0].product_display_name,
            "Turtle Check Men Navy Blue Shirt"
        );
    }
}
