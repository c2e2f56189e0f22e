//! A small SVG line chart: loss and accuracy per epoch for each number type, side by side.

use std::fmt::Write as _;
use std::path::Path;

const W: f64 = 460.0;
const H: f64 = 300.0;
const PAD: f64 = 50.0;
const COLORS: [&str; 4] = ["steelblue", "firebrick", "seagreen", "darkorchid"];

/// One panel: series of (epoch, value), drawn in a box at horizontal offset `x0`.
fn panel(out: &mut String, x0: f64, title: &str, series: &[(&str, Vec<f64>)], lo: f64, hi: f64) {
    let n = series
        .iter()
        .map(|(_, v)| v.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let (left, top, width, height) = (x0 + PAD, PAD, W - 1.5 * PAD, H - 2.0 * PAD);
    let px = |i: usize| left + width * i as f64 / (n - 1) as f64;
    let py = |v: f64| top + height * (1.0 - (v - lo) / (hi - lo).max(1e-12));
    let _ = writeln!(
        out,
        r#"<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="gray"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="14" text-anchor="middle">{title}</text>"#,
        left + width / 2.0,
        top - 15.0
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * f64::from(k) / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{v:.2}</text>"#,
            left - 4.0,
            py(v) + 3.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">epoch (1..{n})</text>"#,
        left + width / 2.0,
        top + height + 20.0
    );
    for (k, (name, values)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", px(i), py(*v)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            points.join(" ")
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="11" fill="{color}">{name}</text>"#,
            left + 8.0,
            top + 16.0 + 14.0 * k as f64
        );
    }
}

/// Writes the chart of `(name, [(loss, accuracy %) per epoch])` to `path`.
pub fn write(path: &Path, curves: &[(&str, &[(f64, f64)])]) -> std::io::Result<()> {
    write_titled(path, "held-out shifted accuracy, %", curves)
}

/// [`write`] with the accuracy panel titled `accuracy_title` (`examples/imu` includes this file).
pub fn write_titled(
    path: &Path,
    accuracy_title: &str,
    curves: &[(&str, &[(f64, f64)])],
) -> std::io::Result<()> {
    let loss: Vec<(&str, Vec<f64>)> = curves
        .iter()
        .map(|(n, c)| (*n, c.iter().map(|p| p.0).collect()))
        .collect();
    let acc: Vec<(&str, Vec<f64>)> = curves
        .iter()
        .map(|(n, c)| (*n, c.iter().map(|p| p.1).collect()))
        .collect();
    let max_loss = loss
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max);
    let min_acc = acc
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(100.0f64, f64::min);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" font-family="sans-serif">"#,
        2.0 * W
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(
        &mut out,
        0.0,
        "training loss (mean per epoch)",
        &loss,
        0.0,
        max_loss * 1.05,
    );
    panel(
        &mut out,
        W,
        accuracy_title,
        &acc,
        (min_acc - 5.0).max(0.0),
        100.0,
    );
    out.push_str("</svg>\n");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, out)
}
