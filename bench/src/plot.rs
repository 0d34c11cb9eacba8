//! The scale plot: seconds until every AIStore is Ready and the controller's peak RSS against
//! the number of clusters, drawn from `scale.tsv` (and `scale-go.tsv`, the reference operator)
//! into a PNG.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// DejaVu Sans (Debian's fonts-dejavu-core): the bitmap backend draws text with a font file.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// (clusters, secs until all Ready, peak RSS MiB) of each row of `tsv`.
fn points(tsv: &Path) -> Result<Vec<(f64, f64, f64)>> {
    let text =
        std::fs::read_to_string(tsv).with_context(|| format!("reading {}", tsv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| anyhow!("{}: no column {name}", tsv.display()))
    };
    let (c, s, m) = (
        col("clusters")?,
        col("secs_all_ready")?,
        col("peak_rss_mib")?,
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let num = |i: usize| -> Result<f64> {
                f.get(i)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow!("{}: bad row {l:?}", tsv.display()))
            };
            Ok((num(c)?, num(s)?, num(m)?))
        })
        .collect()
}

/// Draws `png` from `scale.tsv` in `dir` (this operator) and, when present, `scale-go.tsv`
/// (the reference operator), one line each.
pub fn draw(dir: &Path, png: &Path) -> Result<()> {
    let mut runs = vec![(
        "this operator (Rust)",
        points(&dir.join("scale.tsv"))?,
        BLUE,
    )];
    let go = dir.join("scale-go.tsv");
    if go.exists() {
        runs.push(("reference operator (Go v3.4.0)", points(&go)?, RED));
    }
    let font = std::fs::read(FONT).with_context(|| format!("reading the font {FONT}"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow!("{FONT}: not a font"))?;
    let all = || runs.iter().flat_map(|r| r.1.iter());
    let max_n = all().map(|p| p.0).fold(10.0, f64::max) * 1.05;
    let max_s = all().map(|p| p.1).fold(10.0, f64::max) * 1.15;
    let max_m = all().map(|p| p.2).fold(10.0, f64::max) * 1.15;
    let root = BitMapBackend::new(png, (1000, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (left, right) = root.split_horizontally(500);
    for (area, title, ymax, pick) in [
        (&left, "seconds until every AIStore is Ready", max_s, 1usize),
        (&right, "operator peak RSS (MiB)", max_m, 2),
    ] {
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..max_n, 0.0..ymax)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("AIStore clusters (3 proxies + 10 targets each, kwok)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (label, pts, color) in &runs {
            let series: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, if pick == 1 { p.1 } else { p.2 }))
                .collect();
            let color = *color;
            chart
                .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    series
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
                )
                .map_err(|e| anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
