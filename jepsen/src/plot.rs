//! The latency/time plot of a run (PNG): every operation at its invocation time and its
//! latency (log scale), ok reads and ok writes in two colours, failures in red, operations
//! that ended unknown in orange along the top, and each fault's window shaded and named.
//! Text needs a TrueType font: DejaVu Sans from the system (`fonts-dejavu-core`).
//! Must never: fail a run — a plot that cannot be drawn is reported, not fatal.

use crate::history::{Kind, Op};
use crate::nemesis::Fault;
use plotters::prelude::*;
use std::path::Path;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers the font once per process.
fn font() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = FONTS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or_else(|| format!("no font for the plot's text (looked for {})", FONTS.join(", ")))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "a bad font file".to_string())
    })
    .clone()
}

/// A series' name, colour, and which operations it draws.
type Series = (&'static str, RGBColor, fn(&Op) -> bool);

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

pub fn plot(path: &Path, title: &str, ops: &[Op], faults: &[Fault]) -> Result<(), String> {
    font()?;
    let secs = |ns: u64| ns as f64 / 1e9;
    let t_max = ops
        .iter()
        .map(|o| o.completed.unwrap_or(o.invoked))
        .chain(faults.iter().map(|f| f.end))
        .max()
        .map_or(1.0, secs)
        .max(1.0);
    let lat = |o: &Op| o.completed.map(|c| (c.saturating_sub(o.invoked) as f64 / 1e6).max(0.01));
    let y_max = ops.iter().filter_map(lat).fold(10.0f64, f64::max) * 2.0;
    let root = BitMapBackend::new(path, (1400, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..t_max, (0.01f64..y_max).log_scale())
        .map_err(e)?;
    chart.configure_mesh().x_desc("time since the start (s)").y_desc("latency (ms)").draw().map_err(e)?;
    for f in faults {
        let (a, b) = (secs(f.start), secs(f.end));
        chart
            .draw_series(std::iter::once(Rectangle::new([(a, 0.01), (b, y_max)], RGBColor(255, 215, 200).filled())))
            .map_err(e)?;
        let label = f.label();
        chart
            .draw_series(std::iter::once(Text::new(label, (a, y_max / 1.6), ("sans-serif", 13).into_font())))
            .map_err(e)?;
    }
    let series: [Series; 4] = [
        ("read ok", RGBColor(40, 150, 60), |o| o.outcome == Kind::Ok && o.f == "read"),
        ("other ok", RGBColor(40, 80, 200), |o| o.outcome == Kind::Ok && o.f != "read"),
        ("fail", RGBColor(220, 30, 30), |o| o.outcome == Kind::Fail),
        ("info (drawn at the top)", RGBColor(240, 140, 0), |o| o.outcome == Kind::Info),
    ];
    for (name, colour, pick) in series {
        let points: Vec<(f64, f64)> =
            ops.iter().filter(|o| pick(o)).map(|o| (secs(o.invoked), lat(o).unwrap_or(y_max / 1.2))).collect();
        chart
            .draw_series(points.into_iter().map(move |p| Circle::new(p, 2, colour.filled())))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::Nemesis;
    use serde_json::json;

    #[test]
    fn a_plot_is_a_png_with_faults_and_every_outcome() {
        let op = |f: &str, t: u64, d: Option<u64>, outcome| Op {
            process: 0,
            f: f.into(),
            key: None,
            arg: json!(1),
            result: json!(1),
            invoked: t,
            completed: d.map(|d| t + d),
            outcome,
            index: 0,
            answer: json!(1),
        };
        let ops = vec![
            op("read", 1_000_000, Some(300_000), Kind::Ok),
            op("write", 2_000_000_000, Some(5_000_000), Kind::Ok),
            op("write", 3_000_000_000, None, Kind::Info),
            op("read", 4_000_000_000, Some(3_000_000_000), Kind::Fail),
        ];
        let faults = vec![Fault {
            kinds: vec![Nemesis::Kill],
            what: "killed member 1".into(),
            start: 1_500_000_000,
            end: 3_500_000_000,
            recovered_after: None,
            write_gap: None,
        }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.png");
        plot(&path, "test", &ops, &faults).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 5_000, "a real picture, {} bytes", bytes.len());
    }
}
