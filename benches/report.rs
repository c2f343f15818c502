//! The bench's figures as a report people can read: a Markdown table
//! (`bench.md`) and an SVG chart of restore latency against memory size
//! (`latency.svg`), written where CREST_BENCH_REPORT points
//! (scripts/bench-report sets it).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::Row;

/// Writes `bench.md` and `latency.svg` into `dir`; `memcpy` is the GB/s
/// of memcpy into fresh anonymous memory measured in the same run.
pub fn write(dir: &Path, rows: &[Row], memcpy: f64) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut md = String::new();
    let _ = writeln!(md, "# crest benchmark\n");
    let _ = writeln!(
        md,
        "Medians of interleaved rounds, each beside its baseline (fork+exec+wait of a static \
         binary, as many as the case has processes) measured in the same rounds. memcpy into \
         fresh anonymous memory here: {memcpy:.2} GB/s.\n"
    );
    let _ = writeln!(
        md,
        "| case | what | memory | median | × baseline | baseline | GB/s |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for r in rows {
        let mem = if r.bytes == 0 {
            String::new()
        } else {
            format!("{:.1} MB", r.bytes as f64 / 1e6)
        };
        let gbps = if r.bytes > 0 && (r.what.contains("every page") || r.what.contains("eager")) {
            format!("{:.2}", r.bytes as f64 / 1e9 / (r.ms / 1e3))
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {mem} | {:.2} ms | {:.1} | {:.2} ms | {gbps} |",
            r.case,
            r.what,
            r.ms,
            r.ms / r.base_ms,
            r.base_ms
        );
    }
    let md_path = dir.join("bench.md");
    std::fs::write(&md_path, md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    chart(&dir.join("latency.svg"), rows).map_err(|e| format!("latency.svg: {e}"))
}

/// Latency (ms, log) against memory (MB, log), a line per way of
/// restoring, and the baseline.
fn chart(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let series = [
        ("restore, eager", RED),
        ("restore --lazy-pages: task runs", BLUE),
        ("restore --lazy-pages: every page in", GREEN),
    ];
    // The memory-size cases (not the Node.js program, whose cost is more
    // than its pages).
    let sized: Vec<&Row> = rows
        .iter()
        .filter(|r| r.bytes > 0 && !r.case.starts_with("node"))
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for r in &sized {
        let mb = r.bytes as f64 / 1e6;
        x0 = x0.min(mb);
        x1 = x1.max(mb);
        y0 = y0.min(r.ms).min(r.base_ms);
        y1 = y1.max(r.ms);
    }
    if sized.is_empty() {
        return Ok(());
    }
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(
            "crest restore latency against memory size",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x0 / 2.0..x1 * 2.0).log_scale(),
            (y0 / 2.0..y1 * 2.0).log_scale(),
        )?;
    c.configure_mesh()
        .x_desc("memory in the images (MB)")
        .y_desc("latency (ms)")
        .draw()?;
    for (what, color) in series {
        let mut pts: Vec<(f64, f64)> = sized
            .iter()
            .filter(|r| r.what == what)
            .map(|r| (r.bytes as f64 / 1e6, r.ms))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(what)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        c.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    let base: Vec<(f64, f64)> = {
        let mut v: Vec<(f64, f64)> = sized
            .iter()
            .map(|r| (r.bytes as f64 / 1e6, r.base_ms))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    c.draw_series(LineSeries::new(base, BLACK.stroke_width(1)))?
        .label("baseline: fork+exec+wait")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
