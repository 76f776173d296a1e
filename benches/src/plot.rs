//! `latency.svg`: median latency per runtime and phase as horizontal bars on a log axis, next to the kernel
//! floor, the VM and Firecracker's published figure.

use std::path::Path;

use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::RangedCoordi32;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::floor::SERIES;
use crate::report::FIRECRACKER_MS;
use crate::results::Results;
use crate::runtime::Runtime;

/// Phases drawn (the others are in the tables).
const PLOTTED: [&str; 8] = [
    "create",
    "start",
    "wait",
    "delete",
    "create→delete",
    "run",
    "state",
    "kill",
];

struct Bar {
    label: String,
    ms: f64,
    /// Legend entry this bar belongs to.
    series: usize,
}

/// The legend: one colour per runtime, then the kernel floor, the VM and Firecracker's figure, whose
/// entries' indices are kept for their bars.
struct Legend {
    entries: Vec<(String, RGBColor)>,
    floor: usize,
    vm: usize,
    firecracker: usize,
}

/// The chart: log-scale milliseconds across, one segment per bar down.
type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, SegmentedCoord<RangedCoordi32>>>;

/// Writes the chart to `path`: a bar per plotted phase and runtime, per floor series, for the VM when it
/// booted, and Firecracker's published figure, top to bottom in that order.
pub fn write_svg(
    path: &Path,
    res: &Results,
    rts: &[Runtime],
    vm_label: Option<&str>,
    title: &str,
) -> Result<(), String> {
    let legend = legend(rts);
    let bars = bars(res, rts, vm_label, &legend);
    let n = bars.len() as i32;
    let max = bars.iter().map(|b| b.ms).fold(1.0, f64::max);
    let xmax = 10f64.powf((max * 3.0).log10().ceil());
    let xmin = 0.1;
    let height = 120 + 20 * bars.len() as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("plot: {e}");
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(330)
        .build_cartesian_2d((xmin..xmax).log_scale(), (0..n).into_segmented())
        .map_err(e)?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let row = |i: i32| n - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(row(*i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("median latency, ms (log scale)")
        .x_label_formatter(&|v| format!("{v}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    draw_bars(&mut chart, &bars, &legend.entries, xmin)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// The runtimes' colours from plotters' palette, then fixed ones for the floor, the VM and Firecracker.
fn legend(rts: &[Runtime]) -> Legend {
    let mut entries: Vec<(String, RGBColor)> = rts
        .iter()
        .enumerate()
        .map(|(i, rt)| {
            let c = Palette99::pick(i).to_rgba();
            (rt.name.clone(), RGBColor(c.0, c.1, c.2))
        })
        .collect();
    let floor = entries.len();
    entries.push((
        "kernel floor (raw syscalls)".into(),
        RGBColor(120, 120, 120),
    ));
    let vm = entries.len();
    entries.push((
        "VM boot → power-off (measured)".into(),
        RGBColor(150, 30, 30),
    ));
    let firecracker = entries.len();
    entries.push((
        "Firecracker, published, not measured".into(),
        RGBColor(240, 170, 90),
    ));
    Legend {
        entries,
        floor,
        vm,
        firecracker,
    }
}

/// The bars, in drawing order from the top: each plotted phase for every runtime that has a median of it,
/// each floor series measured, the VM boot when measured, and Firecracker's published figure.
fn bars(res: &Results, rts: &[Runtime], vm_label: Option<&str>, legend: &Legend) -> Vec<Bar> {
    let mut bars = Vec::new();
    for phase in PLOTTED {
        for (i, rt) in rts.iter().enumerate() {
            if let Some(ms) = res.median("lifecycle", &rt.name, phase) {
                bars.push(Bar {
                    label: format!("{phase} · {}", rt.name),
                    ms,
                    series: i,
                });
            }
        }
    }
    for series in SERIES {
        if let Some(ms) = res.median("floor", "floor", series) {
            bars.push(Bar {
                label: format!("floor {series}"),
                ms,
                series: legend.floor,
            });
        }
    }
    if let (Some(ms), Some(label)) = (res.median("vm", "vm", "boot→poweroff"), vm_label) {
        let short = if label.starts_with("KVM") {
            "KVM microvm"
        } else {
            "qemu TCG -M pc"
        };
        bars.push(Bar {
            label: format!("VM boot → power-off, {short}"),
            ms,
            series: legend.vm,
        });
    }
    bars.push(Bar {
        label: "Firecracker ≤ 125 ms to guest init".into(),
        ms: FIRECRACKER_MS,
        series: legend.firecracker,
    });
    bars
}

/// One series per legend entry that has bars: the bars in its colour from `xmin`, each with its value
/// written just right of its end (in s from 1000 ms), and the entry in the legend.
fn draw_bars(
    chart: &mut Chart<'_, '_>,
    bars: &[Bar],
    legend: &[(String, RGBColor)],
    xmin: f64,
) -> Result<(), String> {
    let n = bars.len() as i32;
    let row = |i: i32| n - 1 - i;
    let e = |e: DrawingAreaErrorKind<_>| format!("plot: {e}");
    let value_style =
        TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (s, (name, color)) in legend.iter().enumerate() {
        let color = *color;
        let mine: Vec<(i32, f64)> = bars
            .iter()
            .enumerate()
            .filter(|(_, b)| b.series == s)
            .map(|(i, b)| (row(i as i32), b.ms))
            .collect();
        if mine.is_empty() {
            continue;
        }
        chart
            .draw_series(mine.iter().map(|&(y, ms)| {
                let mut r = Rectangle::new(
                    [
                        (xmin, SegmentValue::Exact(y)),
                        (ms, SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                );
                r.set_margin(3, 3, 0, 0);
                r
            }))
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart
            .draw_series(mine.iter().map(|&(y, ms)| {
                let text = if ms >= 1000.0 {
                    format!("{:.2} s", ms / 1e3)
                } else {
                    format!("{ms:.1} ms")
                };
                Text::new(
                    text,
                    (ms * 1.08, SegmentValue::CenterOf(y)),
                    value_style.clone(),
                )
            }))
            .map_err(e)?;
    }
    Ok(())
}
