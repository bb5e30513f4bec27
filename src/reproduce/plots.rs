//! The report's SVG figures, drawn with plotters' SVG backend.
//!
//! Text needs no font files: without plotters' `ttf`/`ab_glyph` features the SVG backend
//! writes `<text>` elements with a sans-serif family and lets the viewer lay them out, so
//! nothing here touches fontconfig or freetype.
//!
//! Each [`Plot`] is first turned into a figure of panels of curves (pure data), which is
//! then rendered; non-finite points are skipped, and on log axes non-positive values are
//! skipped (error bars are clipped to the axis).

use super::results::{Results, SetEval, SET_OOD, SET_TEST};
use crate::{Error, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The figures of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plot {
    /// OSP of the ensemble versus M (log x), one panel per set, last epoch.
    OspVsM,
    /// Symmetric KL of the ensemble versus M (log-log), one panel per set, last epoch.
    KlVsM,
    /// OSP and KL versus epoch at the largest M, one panel per (metric, set).
    MetricsVsEpoch,
    /// Test accuracy versus epoch: ensemble at the largest M and single members.
    AccuracyVsEpoch,
    /// The squared bias ‖E D‖² (U-statistic ± jackknife se) versus epoch, one panel per set.
    BiasVsEpoch,
}

impl Plot {
    /// Every figure, in report order.
    pub const ALL: [Plot; 5] = [
        Plot::OspVsM,
        Plot::KlVsM,
        Plot::MetricsVsEpoch,
        Plot::AccuracyVsEpoch,
        Plot::BiasVsEpoch,
    ];

    /// File name inside the report folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Plot::OspVsM => "osp_vs_m.svg",
            Plot::KlVsM => "kl_vs_m.svg",
            Plot::MetricsVsEpoch => "metrics_vs_epoch.svg",
            Plot::AccuracyVsEpoch => "accuracy_vs_epoch.svg",
            Plot::BiasVsEpoch => "bias_vs_epoch.svg",
        }
    }

    /// Human-readable title.
    pub fn title(self) -> &'static str {
        match self {
            Plot::OspVsM => "Orbit same prediction (OSP) vs ensemble size",
            Plot::KlVsM => "Symmetric KL divergence vs ensemble size",
            Plot::MetricsVsEpoch => "OSP and symmetric KL vs epoch at the largest M",
            Plot::AccuracyVsEpoch => "Test accuracy vs epoch",
            Plot::BiasVsEpoch => "Squared bias ‖E D‖² of the infinite ensemble vs epoch",
        }
    }
}

/// Renders `plot` of `results` as an SVG document.
pub fn render_plot(results: &Results, plot: Plot) -> Result<String> {
    let figure = figure_of(results, plot);
    render(&figure).map_err(|e| Error::Io(format!("{}: plotting failed: {e}", plot.file_name())))
}

/// Writes every [`Plot`] as `out_dir/<file_name>`; returns the paths written.
pub fn write_plots(results: &Results, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for plot in Plot::ALL {
        let path = out_dir.join(plot.file_name());
        let svg = render_plot(results, plot)?;
        std::fs::write(&path, svg).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// One line with error bars: (x, y, ± err) points.
struct Curve {
    color: RGBColor,
    points: Vec<(f64, f64, f64)>,
}

/// One chart of a figure.
struct Panel {
    title: String,
    x_label: String,
    y_label: String,
    log_x: bool,
    log_y: bool,
    curves: Vec<Curve>,
}

/// Panels in a grid of `cols` columns, a title, a shared legend below.
struct Figure {
    title: String,
    cols: usize,
    panels: Vec<Panel>,
    legend: Vec<(String, RGBColor)>,
}

/// Colour of an arm: the paper's three arms blue / orange / red, the cnn control grey.
fn arm_color(name: &str, index: usize) -> RGBColor {
    const OTHERS: [RGBColor; 3] = [
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    match name {
        "sym" => RGBColor(31, 119, 180),
        "as-syminit" => RGBColor(255, 127, 14),
        "as-asyminit" => RGBColor(214, 39, 40),
        "cnn" => RGBColor(110, 110, 110),
        _ => OTHERS[index % OTHERS.len()],
    }
}

fn set_title(results: &Results, set: &str) -> String {
    let data = if results.run.data.is_empty() {
        "digits"
    } else {
        results.run.data.as_str()
    };
    let ood = match results.run.ood.as_str() {
        "natural" => "natural images",
        _ => "smoothed noise",
    };
    match set {
        SET_TEST => format!("test ({data}, in distribution)"),
        SET_OOD => format!("ood ({ood})"),
        _ => "other set".into(),
    }
}

/// Which ensemble metric a curve shows.
#[derive(Clone, Copy)]
enum Metric {
    Acc,
    Osp,
    Kl,
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Metric::Acc => "accuracy",
            Metric::Osp => "OSP",
            Metric::Kl => "symmetric KL",
        }
    }
}

fn pick(stat: &super::results::SizeStat, metric: Metric) -> (f64, f64) {
    let v = match metric {
        Metric::Acc => stat.acc,
        Metric::Osp => stat.osp,
        Metric::Kl => stat.kl,
    };
    (v.mean, v.std)
}

fn figure_of(results: &Results, plot: Plot) -> Figure {
    let legend: Vec<(String, RGBColor)> = results
        .arms
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.clone(), arm_color(&a.name, i)))
        .collect();
    let largest = results.largest_m().unwrap_or(0);
    let (cols, panels) = match plot {
        Plot::OspVsM => (2, vs_m_panels(results, Metric::Osp)),
        Plot::KlVsM => (2, vs_m_panels(results, Metric::Kl)),
        Plot::MetricsVsEpoch => {
            let mut panels = Vec::new();
            for metric in [Metric::Osp, Metric::Kl] {
                for set in [SET_TEST, SET_OOD] {
                    panels.push(vs_epoch_panel(
                        results,
                        set,
                        &format!(
                            "{} — {}, M = {largest}",
                            metric.label(),
                            set_title(results, set)
                        ),
                        metric.label(),
                        matches!(metric, Metric::Kl),
                        |s| s.at_m(largest).map(|st| pick(st, metric)),
                    ));
                }
            }
            (2, panels)
        }
        Plot::AccuracyVsEpoch => (
            2,
            vec![
                vs_epoch_panel(
                    results,
                    SET_TEST,
                    &format!("ensemble, M = {largest}"),
                    "test accuracy",
                    false,
                    |s| s.at_m(largest).map(|st| pick(st, Metric::Acc)),
                ),
                vs_epoch_panel(
                    results,
                    SET_TEST,
                    "single members (mean ± std)",
                    "test accuracy",
                    false,
                    |s| Some((s.single_members.acc.mean, s.single_members.acc.std)),
                ),
            ],
        ),
        Plot::BiasVsEpoch => (
            2,
            [SET_TEST, SET_OOD]
                .iter()
                .map(|&set| {
                    vs_epoch_panel(
                        results,
                        set,
                        &set_title(results, set),
                        "‖E D‖² (U-statistic ± jackknife se)",
                        false,
                        |s| s.bias.map(|b| (b.estimate, b.se)),
                    )
                })
                .collect(),
        ),
    };
    Figure {
        title: plot.title().to_string(),
        cols,
        panels,
        legend,
    }
}

/// One panel per set: `metric` vs M at each arm's last epoch.
fn vs_m_panels(results: &Results, metric: Metric) -> Vec<Panel> {
    [SET_TEST, SET_OOD]
        .iter()
        .map(|&set| {
            let curves = results
                .arms
                .iter()
                .enumerate()
                .map(|(i, arm)| {
                    let points = arm
                        .last_epoch()
                        .and_then(|e| e.set(set))
                        .map(|s| {
                            s.by_size
                                .iter()
                                .map(|st| {
                                    let (y, err) = pick(st, metric);
                                    (st.m as f64, y, err)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Curve {
                        color: arm_color(&arm.name, i),
                        points,
                    }
                })
                .collect();
            Panel {
                title: set_title(results, set),
                x_label: "ensemble size M".into(),
                y_label: format!("{} (bootstrap mean ± std)", metric.label()),
                log_x: true,
                log_y: matches!(metric, Metric::Kl),
                curves,
            }
        })
        .collect()
}

/// One panel on `set`: the value `value(set eval)` versus epoch, one curve per arm.
fn vs_epoch_panel(
    results: &Results,
    set: &str,
    title: &str,
    y_label: &str,
    log_y: bool,
    value: impl Fn(&SetEval) -> Option<(f64, f64)>,
) -> Panel {
    let curves = results
        .arms
        .iter()
        .enumerate()
        .map(|(i, arm)| Curve {
            color: arm_color(&arm.name, i),
            points: arm
                .epochs
                .iter()
                .filter_map(|e| {
                    let (y, err) = value(e.set(set)?)?;
                    Some((e.epoch as f64, y, err))
                })
                .collect(),
        })
        .collect();
    Panel {
        title: title.to_string(),
        x_label: "epoch (0 = init)".into(),
        y_label: y_label.to_string(),
        log_x: false,
        log_y,
        curves,
    }
}

const PANEL_W: u32 = 520;
const PANEL_H: u32 = 400;
const TITLE_H: u32 = 40;
const LEGEND_H: u32 = 36;

fn render(fig: &Figure) -> std::result::Result<String, String> {
    let cols = fig.cols.max(1);
    let rows = fig.panels.len().div_ceil(cols).max(1);
    let size = (
        PANEL_W * cols as u32,
        TITLE_H + PANEL_H * rows as u32 + LEGEND_H,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (title_area, rest) = root.split_vertically(TITLE_H);
        let (grid, legend_area) = rest.split_vertically(PANEL_H * rows as u32);
        title_area
            .titled(&fig.title, ("sans-serif", 22))
            .map_err(|e| e.to_string())?;
        for (area, panel) in grid.split_evenly((rows, cols)).iter().zip(&fig.panels) {
            draw_panel(area, panel)?;
        }
        draw_legend(&legend_area, &fig.legend)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The legend: a coloured line and the arm name per arm, in one row.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
) -> std::result::Result<(), String> {
    let y = (LEGEND_H / 2) as i32;
    let longest = entries
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0) as i32;
    let mut x = 20;
    for (name, color) in entries {
        area.draw(&PathElement::new(
            vec![(x, y), (x + 28, y)],
            color.stroke_width(3),
        ))
        .map_err(|e| e.to_string())?;
        area.draw(&Circle::new((x + 14, y), 4, color.filled()))
            .map_err(|e| e.to_string())?;
        area.draw(&Text::new(
            name.clone(),
            (x + 36, y - 8),
            ("sans-serif", 16).into_font(),
        ))
        .map_err(|e| e.to_string())?;
        x += 60 + 10 * longest;
    }
    Ok(())
}

/// Points drawable on the panel's axes: finite, and positive on a log y axis; the lower end of
/// an error bar is clipped to the smallest positive value on a log axis.
fn drawable(panel: &Panel, c: &Curve) -> Vec<(f64, f64, f64, f64)> {
    c.points
        .iter()
        .filter(|(x, y, _)| x.is_finite() && y.is_finite())
        .filter(|(x, y, _)| (!panel.log_x || *x > 0.0) && (!panel.log_y || *y > 0.0))
        .map(|&(x, y, err)| {
            let err = if err.is_finite() { err.abs() } else { 0.0 };
            let lo = if panel.log_y && y - err <= 0.0 {
                y
            } else {
                y - err
            };
            (x, lo, y, y + err)
        })
        .collect()
}

/// A padded plotting range over `values` (a default range if there are none); a log range
/// starts at a power of ten when `from_decade`.
fn axis_range(values: impl Iterator<Item = f64>, log: bool, from_decade: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = ((h - l) * 0.08).max(0.05);
        let low = if from_decade {
            // The factor 1 − 1e-9 keeps that decade inside the range despite ln round-off.
            10f64.powf((l - pad).floor()) * (1.0 - 1e-9)
        } else {
            10f64.powf(l - pad)
        };
        (low, 10f64.powf(h + pad))
    } else {
        let pad = ((hi - lo) * 0.08).max(1e-3 * hi.abs().max(1.0));
        (lo - pad, hi + pad)
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> std::result::Result<(), String> {
    let pts: Vec<Vec<(f64, f64, f64, f64)>> =
        panel.curves.iter().map(|c| drawable(panel, c)).collect();
    let all = || pts.iter().flatten();
    // Plotters puts log ticks only from the first power of ten on: a log y axis starts at one
    // so that its smallest values can be read; the x axis (M from 5) needs no such start.
    let (x0, x1) = axis_range(all().map(|p| p.0), panel.log_x, false);
    let (y0, y1) = axis_range(all().flat_map(|p| [p.1, p.3]), panel.log_y, true);
    match (panel.log_x, panel.log_y) {
        (false, false) => draw_in(area, panel, &pts, x0..x1, y0..y1),
        (true, false) => draw_in(area, panel, &pts, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw_in(area, panel, &pts, x0..x1, (y0..y1).log_scale()),
        (true, true) => draw_in(
            area,
            panel,
            &pts,
            (x0..x1).log_scale(),
            (y0..y1).log_scale(),
        ),
    }
}

/// Log-axis tick label: only at mantissas 1, 2 and 5 (the others stay unlabelled ticks).
fn log_tick(v: &f64) -> String {
    let mantissa = v.abs() / 10f64.powf(v.abs().log10().floor());
    // Key points are products of powers of ten and small integers: 1e-9 relative slack
    // absorbs their round-off.
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-9 * m)
    {
        tick(v)
    } else {
        String::new()
    }
}

/// Tick label: integers plainly, small numbers in scientific notation.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (a - a.round()).abs() < 1e-9 * a.max(1.0) && a < 1e6 {
        format!("{v:.0}")
    } else if a >= 1e-4 {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

fn draw_in<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    pts: &[Vec<(f64, f64, f64, f64)>],
    x: X,
    y: Y,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    // Log axes get a larger tick budget, so that plotters adds the 2..9 multiples within a
    // decade when the range spans few decades (labelled at 1, 2, 5 only).
    let labels = |log: bool| if log { 20 } else { 10 };
    chart
        .configure_mesh()
        .x_labels(labels(panel.log_x))
        .y_labels(labels(panel.log_y))
        .x_max_light_lines(if panel.log_x { 0 } else { 5 })
        .y_max_light_lines(if panel.log_y { 0 } else { 5 })
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .x_label_formatter(if panel.log_x { &log_tick } else { &tick })
        .y_label_formatter(if panel.log_y { &log_tick } else { &tick })
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(err)?;
    for (curve, points) in panel.curves.iter().zip(pts) {
        let color = curve.color;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.2)),
                color.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| ErrorBar::new_vertical(p.0, p.1, p.2, p.3, color.stroke_width(1), 8)),
            )
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.2), 3, color.filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}
