//! Small hand-written SVG charts for the report: latency percentiles per operation type and
//! database size over time. Each is a standalone SVG document; empty data gives a chart that says
//! "no data" rather than an empty or broken image.

use super::format::{bytes, micros, seconds};
use super::model::SoakReport;
use super::ordered;
use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 56.0;
const FONT: &str = "font-family=\"sans-serif\"";

/// The percentiles drawn per operation, with their colours.
const SERIES: [(&str, &str); 3] = [("p50", "#4e79a7"), ("p95", "#f28e2b"), ("p99", "#e15759")];

/// p50, p95 and p99 per operation type (from `latency_us`), as grouped bars on a log scale.
pub fn latency_bars(report: &SoakReport) -> String {
    const TITLE: &str = "Latency per operation type (p50, p95, p99)";
    let groups: Vec<(&str, [u64; 3])> = ordered(&report.latency_us)
        .into_iter()
        .filter(|(_, s)| s.count > 0)
        .map(|(op, s)| (op, [s.p50, s.p95, s.p99]))
        .collect();
    if groups.is_empty() {
        return no_data(TITLE);
    }
    let scale = LogScale::covering(groups.iter().flat_map(|(_, v)| v.iter().copied()));
    let mut svg = Svg::new(TITLE);
    svg.log_grid(&scale);
    svg.axes("operation type", "latency (log scale)");
    let group_width = plot_width() / groups.len() as f64;
    for (i, (op, values)) in groups.iter().enumerate() {
        let x0 = LEFT + i as f64 * group_width;
        svg.bar_group(x0, group_width, values, &scale);
        svg.text(
            x0 + group_width / 2.0,
            HEIGHT - BOTTOM + 16.0,
            "middle",
            12.0,
            op,
        );
    }
    svg.legend();
    svg.finish()
}

/// Database + WAL size over time: `(seconds since start, bytes)` samples as a line.
pub fn growth_line(samples: &[(f64, u64)]) -> String {
    const TITLE: &str = "Database + WAL size over time";
    let samples: Vec<(f64, u64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| t.is_finite())
        .collect();
    if samples.is_empty() {
        return no_data(TITLE);
    }
    let t_max = nice_max(samples.iter().map(|(t, _)| *t).fold(0.0, f64::max));
    let b_max = nice_max(samples.iter().map(|(_, b)| *b as f64).fold(0.0, f64::max));
    let mut svg = Svg::new(TITLE);
    svg.linear_grid(t_max, b_max);
    svg.axes("time since start", "database + WAL size");
    let points: Vec<(f64, f64)> = samples
        .iter()
        .map(|(t, b)| (x_linear(*t, t_max), y_linear(*b as f64, b_max)))
        .collect();
    svg.line(&points);
    svg.finish()
}

/// A chart frame with the title and a centred "no data".
fn no_data(title: &str) -> String {
    let mut svg = Svg::new(title);
    svg.axes("", "");
    svg.text(
        LEFT + plot_width() / 2.0,
        TOP + plot_height() / 2.0,
        "middle",
        16.0,
        "no data",
    );
    svg.finish()
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn x_linear(t: f64, t_max: f64) -> f64 {
    LEFT + t.max(0.0) / t_max * plot_width()
}

fn y_linear(v: f64, v_max: f64) -> f64 {
    HEIGHT - BOTTOM - v.max(0.0) / v_max * plot_height()
}

/// The smallest 1/2/5 × 10^k at or above `max` (1 for an empty or zero range).
fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let decade = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|candidate| *candidate >= max)
        .unwrap_or(10.0 * decade)
}

/// A base-10 log scale over whole decades of microseconds (values below 1 µs sit at 1 µs).
struct LogScale {
    low: i32,
    high: i32,
}

impl LogScale {
    fn covering(values: impl Iterator<Item = u64>) -> Self {
        let (min, max) = values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let low = (min.max(1) as f64).log10().floor() as i32;
        let high = (max.max(1) as f64).log10().ceil() as i32;
        Self {
            low,
            high: high.max(low + 1),
        }
    }

    fn y(&self, us: u64) -> f64 {
        let position =
            ((us.max(1) as f64).log10() - f64::from(self.low)) / f64::from(self.high - self.low);
        HEIGHT - BOTTOM - position.clamp(0.0, 1.0) * plot_height()
    }
}

/// An SVG document under construction.
struct Svg {
    out: String,
}

impl Svg {
    fn new(title: &str) -> Self {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\">"
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>"
        );
        let mut svg = Self { out };
        svg.text(WIDTH / 2.0, 24.0, "middle", 15.0, title);
        svg
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" font-size=\"{size}\" {FONT} \
             fill=\"#222222\">{}</text>",
            escape(text)
        );
    }

    fn hline(&mut self, y: f64, colour: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\"/>",
            WIDTH - RIGHT
        );
    }

    fn vline(&mut self, x: f64, colour: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{colour}\"/>",
            HEIGHT - BOTTOM
        );
    }

    /// The two axes with their labels (the y label rotated along the axis).
    fn axes(&mut self, x_label: &str, y_label: &str) {
        self.hline(HEIGHT - BOTTOM, "#333333");
        self.vline(LEFT, "#333333");
        self.text(
            LEFT + plot_width() / 2.0,
            HEIGHT - 12.0,
            "middle",
            12.0,
            x_label,
        );
        let (x, y) = (18.0, TOP + plot_height() / 2.0);
        let _ = writeln!(
            self.out,
            "<text x=\"{x}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"12\" {FONT} \
             fill=\"#222222\" transform=\"rotate(-90 {x} {y:.1})\">{}</text>",
            escape(y_label)
        );
    }

    /// Horizontal grid lines at each decade, labelled in readable units.
    fn log_grid(&mut self, scale: &LogScale) {
        for decade in scale.low..=scale.high {
            let us = 10u64.saturating_pow(decade.max(0) as u32);
            let y = scale.y(us);
            self.hline(y, "#dddddd");
            self.text(LEFT - 6.0, y + 4.0, "end", 11.0, &tick(micros(us as f64)));
        }
    }

    /// Five divisions on each axis: seconds along x, bytes along y.
    fn linear_grid(&mut self, t_max: f64, b_max: f64) {
        for i in 0..=5 {
            let fraction = f64::from(i) / 5.0;
            let y = y_linear(fraction * b_max, b_max);
            self.hline(y, "#dddddd");
            let size = tick(bytes((fraction * b_max).round() as u64));
            self.text(LEFT - 6.0, y + 4.0, "end", 11.0, &size);
            let x = x_linear(fraction * t_max, t_max);
            self.vline(x, "#eeeeee");
            let time = tick(seconds(fraction * t_max));
            self.text(x, HEIGHT - BOTTOM + 16.0, "middle", 11.0, &time);
        }
    }

    /// Three bars (p50, p95, p99) in one group, each with its value written above it.
    fn bar_group(&mut self, x0: f64, group_width: f64, values: &[u64; 3], scale: &LogScale) {
        let bar_width = group_width * 0.8 / 3.0;
        let base = HEIGHT - BOTTOM;
        for (j, (&value, (name, colour))) in values.iter().zip(SERIES).enumerate() {
            let x = x0 + group_width * 0.1 + j as f64 * bar_width;
            let y = scale.y(value);
            let _ = writeln!(
                self.out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{name} {}</title></rect>",
                bar_width * 0.9,
                (base - y).max(0.0),
                escape(&micros(value as f64))
            );
            let (lx, ly) = (x + bar_width * 0.45 + 3.0, y - 4.0);
            let _ = writeln!(
                self.out,
                "<text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"9\" {FONT} fill=\"#222222\" \
                 transform=\"rotate(-90 {lx:.1} {ly:.1})\">{}</text>",
                escape(&micros(value as f64))
            );
        }
    }

    fn legend(&mut self) {
        for (i, (name, colour)) in SERIES.iter().enumerate() {
            let x = WIDTH - RIGHT - 150.0 + i as f64 * 50.0;
            let _ = writeln!(
                self.out,
                "<rect x=\"{x:.1}\" y=\"32\" width=\"10\" height=\"10\" fill=\"{colour}\"/>"
            );
            self.text(x + 14.0, 41.0, "start", 11.0, name);
        }
    }

    /// A polyline through the points, with a dot on each when there are few.
    fn line(&mut self, points: &[(f64, f64)]) {
        let coords: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            self.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"2\"/>",
            coords.join(" ")
        );
        if points.len() <= 30 {
            for (x, y) in points {
                let _ = writeln!(
                    self.out,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#4e79a7\"/>"
                );
            }
        }
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// A shorter axis label: `10.0 ms` → `10 ms`, `20.0 MB` → `20 MB` (tick values are round).
fn tick(label: String) -> String {
    label.replace(".00 ", " ").replace(".0 ", " ")
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_max_rounds_up_to_1_2_5() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(420.0), 500.0);
        assert_eq!(nice_max(1000.0), 1000.0);
    }

    #[test]
    fn log_scale_spans_whole_decades() {
        let scale = LogScale::covering([3, 420, 9_000].into_iter());
        assert_eq!((scale.low, scale.high), (0, 4));
        assert_eq!(scale.y(1), HEIGHT - BOTTOM);
        assert_eq!(scale.y(10_000), TOP);
        let flat = LogScale::covering([100, 100].into_iter());
        assert_eq!((flat.low, flat.high), (2, 3));
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
