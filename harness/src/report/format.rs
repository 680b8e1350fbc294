//! Human-readable forms of measured values, shared by the SLO verdict, the Markdown report and the
//! SVG charts, so a number reads the same wherever it appears.

/// Microseconds in the most readable unit: `412 µs`, `2.1 ms`, `123 ms`, `1.25 s`.
pub fn micros(us: f64) -> String {
    if !us.is_finite() {
        return "n/a".to_string();
    }
    if us < 9.95 && us.fract() != 0.0 {
        format!("{us:.1} µs")
    } else if us < 999.5 {
        format!("{us:.0} µs")
    } else if us < 99_950.0 {
        format!("{:.1} ms", us / 1e3)
    } else if us < 999_500.0 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Bytes in decimal units (1 MB = 1,000,000 bytes): `512 B`, `12.4 KB`, `12.4 MB`, `1.20 GB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [(f64, &str); 3] = [(1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    let value = b as f64;
    for (scale, unit) in UNITS {
        if value >= scale * 0.9995 {
            let scaled = value / scale;
            return if scaled < 10.0 && unit == "GB" {
                format!("{scaled:.2} {unit}")
            } else {
                format!("{scaled:.1} {unit}")
            };
        }
    }
    format!("{b} B")
}

/// Kibibytes (as RSS is reported) in binary units: `812 KiB`, `45.3 MiB`, `1.20 GiB`.
pub fn kib(k: u64) -> String {
    let value = k as f64;
    if value >= 1024.0 * 1024.0 {
        format!("{:.2} GiB", value / (1024.0 * 1024.0))
    } else if value >= 1024.0 {
        format!("{:.1} MiB", value / 1024.0)
    } else {
        format!("{k} KiB")
    }
}

/// An integer with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A non-integer quantity such as a rate: one decimal below 100, separators above.
pub fn quantity(x: f64) -> String {
    if !x.is_finite() {
        "n/a".to_string()
    } else if x.abs() < 99.95 {
        format!("{x:.1}")
    } else if x < 0.0 {
        format!("-{}", count(x.abs().round() as u64))
    } else {
        count(x.round() as u64)
    }
}

/// A ratio in 0..=1 as a percentage: `0.973` → `97.3 %`.
pub fn ratio(r: f64) -> String {
    percent(r * 100.0)
}

/// A value that is already a percentage: `3.2 %`.
pub fn percent(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.1} %")
    } else {
        "n/a".to_string()
    }
}

/// Seconds: `0.8 s`, `61.2 s`, `5 min 3 s`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "n/a".to_string()
    } else if s < 600.0 {
        format!("{s:.1} s")
    } else {
        let whole = s.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// A ratio current/baseline: `1.05×`, or `n/a` when the baseline was zero (ratio 0).
pub fn times(r: f64) -> String {
    if r == 0.0 || !r.is_finite() {
        "n/a".to_string()
    } else {
        format!("{r:.2}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_picks_a_readable_unit() {
        assert_eq!(micros(412.0), "412 µs");
        assert_eq!(micros(2.5), "2.5 µs");
        assert_eq!(micros(0.0), "0 µs");
        assert_eq!(micros(999.7), "1.0 ms");
        assert_eq!(micros(2_100.0), "2.1 ms");
        assert_eq!(micros(123_000.0), "123 ms");
        assert_eq!(micros(1_250_000.0), "1.25 s");
    }

    #[test]
    fn bytes_are_decimal() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(12_400), "12.4 KB");
        assert_eq!(bytes(12_400_000), "12.4 MB");
        assert_eq!(bytes(1_200_000_000), "1.20 GB");
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(quantity(1234.4), "1,234");
        assert_eq!(quantity(4.54), "4.5");
    }

    #[test]
    fn percentages_and_ratios() {
        assert_eq!(ratio(0.973), "97.3 %");
        assert_eq!(percent(3.21), "3.2 %");
        assert_eq!(times(0.0), "n/a");
        assert_eq!(times(1.049), "1.05×");
        assert_eq!(kib(2048), "2.0 MiB");
        assert_eq!(seconds(61.24), "61.2 s");
        assert_eq!(seconds(903.0), "15 min 3 s");
    }
}
