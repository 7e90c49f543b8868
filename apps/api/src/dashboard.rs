//! `GET /`: the page a store manager opens. Server-rendered HTML with SVG charts drawn by the
//! `plotters` crate, so the page needs no script library and works offline; the only script is
//! the recommendation lookup box, which calls the API like the website does.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use plotters::prelude::*;

use crate::AppState;
use crate::insights::{Dashboard, Series, dashboard};

const WIDTH: u32 = 560;
const HEIGHT: u32 = 300;

/// Series colours (a colour-blind-safe palette).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Lines of daily shares, one per key.
fn line_chart(series: &[Series], y_label: &str) -> Result<String, String> {
    let mut svg = String::new();
    let days: Vec<String> = series
        .first()
        .map(|s| {
            s.points
                .iter()
                .map(|(d, _)| d.format("%m-%d").to_string())
                .collect()
        })
        .unwrap_or_default();
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let n = days.len().max(2);
    let mut draw = || -> DrawResult {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0f64..n.saturating_sub(1) as f64, 0f64..max * 1.15)?;
        chart
            .configure_mesh()
            .x_labels(n.min(8))
            .x_label_formatter(&|x| {
                days.get(x.round().max(0.0) as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .y_desc(y_label)
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let colour = i
                .checked_rem(PALETTE.len())
                .and_then(|c| PALETTE.get(c))
                .copied()
                .unwrap_or(BLACK);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().enumerate().map(|(x, p)| (x as f64, p.1)),
                    colour.stroke_width(2),
                ))?
                .label(s.key.clone())
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x.saturating_add(16), y)],
                        colour.stroke_width(2),
                    )
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| e.to_string())?;
    Ok(svg)
}

/// Vertical bars with a label under each.
fn bar_chart(bars: &[(String, f64)], y_label: &str) -> Result<String, String> {
    let mut svg = String::new();
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1.0);
    let n = bars.len().max(1);
    let mut draw = || -> DrawResult {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..max * 1.1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                bars.get(i as usize)
                    .map(|b| b.0.clone())
                    .unwrap_or_default()
            })
            .y_desc(y_label)
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, *v)],
                PALETTE[0].mix(0.85).filled(),
            )
        }))?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| e.to_string())?;
    Ok(svg)
}

fn figure(out: &mut String, title: &str, chart: Result<String, String>, empty: bool) {
    let _ = write!(
        out,
        "<figure class=\"chart\"><figcaption>{}</figcaption>",
        esc(title)
    );
    match chart {
        _ if empty => out.push_str("<p class=\"empty\">No data yet.</p>"),
        Ok(svg) => out.push_str(&svg),
        Err(e) => {
            let _ = write!(out, "<p class=\"empty\">Chart failed: {}</p>", esc(&e));
        }
    }
    out.push_str("</figure>");
}

fn table(out: &mut String, title: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<section class=\"table\"><h2>{}</h2>", esc(title));
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">None.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}\
h1{margin:0 0 .2rem}.sub{color:#666;margin:0 0 1rem}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:1rem}\
figure.chart,section.table,section.lookup{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;padding:.6rem}\
figcaption,h2{font-weight:600;font-size:1rem;margin:0 0 .4rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #eee;padding:.2rem .4rem;text-align:left}\
.empty{color:#888}.notes{color:#a60}ol#lookup-results li{margin:.15rem 0}.reason{color:#666;font-size:.85rem}";

/// The lookup box's script: reads the same endpoint as the website.
const LOOKUP_JS: &str = r#"
document.getElementById('lookup-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = document.getElementById('lookup-customer').value.trim();
  const list = document.getElementById('lookup-results');
  const status = document.getElementById('lookup-status');
  list.replaceChildren();
  status.textContent = 'Loading…';
  try {
    const res = await fetch('users/' + encodeURIComponent(id) + '/recommendations?limit=10');
    const body = await res.json();
    if (!res.ok) { status.textContent = body.message || ('HTTP ' + res.status); return; }
    status.textContent = (body.source === 'fallback'
      ? 'No personal list yet: trending and popular items (fallback)'
      : 'Personal list from model ' + body.model_version);
    for (const item of body.items) {
      const li = document.createElement('li');
      const name = item.product ? item.product.name : ('product ' + item.product_id);
      li.textContent = name + ' ';
      const why = document.createElement('span');
      why.className = 'reason';
      why.textContent = '(' + item.reason.replace(/_/g, ' ') + ', score ' + item.score.toFixed(2) + ')';
      li.appendChild(why);
      list.appendChild(li);
    }
  } catch (e) { status.textContent = 'Lookup failed: ' + e; }
});
"#;

fn render(d: &Dashboard) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Fashion store dashboard</title><style>{STYLE}</style></head><body>\
         <h1>Fashion store dashboard</h1><p class=\"sub\">{}</p>",
        esc(&match (d.days, &d.trends) {
            (Some((a, b)), Some(t)) => format!(
                "Clickstream {a} to {b}; trends of {} against the 7 days before. Figures read at {}.",
                t.date,
                d.generated_at.format("%Y-%m-%d %H:%M UTC")
            ),
            _ => "The lake has no clicks yet.".to_owned(),
        })
    );
    out.push_str(
        "<section class=\"lookup\"><h2>Recommendations for a customer</h2>\
         <form id=\"lookup-form\"><label for=\"lookup-customer\">Customer id </label>\
         <input id=\"lookup-customer\" name=\"customer\" inputmode=\"numeric\" required>\
         <button id=\"lookup-submit\" type=\"submit\">Show</button></form>\
         <p id=\"lookup-status\"></p><ol id=\"lookup-results\"></ol></section><div class=\"grid\">",
    );
    figure(
        &mut out,
        "Rising article types: share of product interactions per day (%)",
        line_chart(&d.article_type_share, "share %"),
        d.article_type_share.is_empty(),
    );
    figure(
        &mut out,
        "Rising colours: share of product interactions per day (%)",
        line_chart(&d.colour_share, "share %"),
        d.colour_share.is_empty(),
    );
    let funnel: Vec<(String, f64)> = d
        .funnel
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v as f64))
        .collect();
    figure(
        &mut out,
        "Funnel over the window: views → clicks → carts → purchases",
        bar_chart(&funnel, "events"),
        funnel.iter().all(|f| f.1 == 0.0),
    );
    let sales: Vec<(String, f64)> = d
        .daily_sales
        .iter()
        .map(|s| (s.day.get(5..).unwrap_or(&s.day).to_owned(), s.revenue))
        .collect();
    figure(
        &mut out,
        "Daily sales from the batch job (revenue)",
        bar_chart(&sales, "revenue"),
        sales.is_empty(),
    );
    out.push_str("</div><div class=\"grid\">");
    if let Some(t) = &d.trends {
        let rows: Vec<Vec<String>> = t
            .article_type_colours
            .iter()
            .chain(t.products.iter())
            .take(12)
            .map(|s| {
                vec![
                    s.name
                        .clone()
                        .map_or_else(|| s.key.clone(), |n| format!("{n} ({})", s.key)),
                    format!("{:.2}%", s.recent_share * 100.0),
                    format!("{:.2}%", s.baseline_share * 100.0),
                    format!("×{:.2}", s.growth),
                ]
            })
            .collect();
        table(
            &mut out,
            "Rising article types in a colour, and products",
            &["what", "share on the day", "share before", "growth"],
            &rows,
        );
    }
    let top: Vec<Vec<String>> = d
        .top_products
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.product_id.to_string(),
                p.units.to_string(),
                format!("{:.2}", p.revenue),
            ]
        })
        .collect();
    table(
        &mut out,
        "Top products by revenue",
        &["product", "id", "units", "revenue"],
        &top,
    );
    let q: Vec<Vec<String>> = d
        .quarantine
        .iter()
        .map(|(r, n)| vec![r.clone(), n.to_string()])
        .collect();
    table(
        &mut out,
        "Quarantined order rows by rule",
        &["rule", "rows"],
        &q,
    );
    let dl: Vec<Vec<String>> = d
        .dead_letters
        .iter()
        .map(|(r, n)| vec![r.clone(), n.to_string()])
        .collect();
    table(
        &mut out,
        "Dead letters by source and reason",
        &["source / reason", "records"],
        &dl,
    );
    out.push_str("</div>");
    if !d.notes.is_empty() {
        out.push_str("<ul class=\"notes\">");
        for n in &d.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>");
    }
    let _ = write!(out, "<script>{LOOKUP_JS}</script></body></html>");
    out
}

/// The dashboard page.
pub(crate) async fn page(State(state): State<Arc<AppState>>) -> Response {
    match dashboard(&state).await {
        Ok(d) => ([(header::CACHE_CONTROL, "no-store")], Html(render(&d))).into_response(),
        Err(e) => {
            let (status, _) = e.status();
            let status = if status == StatusCode::OK {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                status
            };
            (
                status,
                Html(format!(
                    "<!doctype html><title>Dashboard unavailable</title><h1>Dashboard unavailable</h1><p>{}</p>",
                    esc(&e.to_string())
                )),
            )
                .into_response()
        }
    }
}
