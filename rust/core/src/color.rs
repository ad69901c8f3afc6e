//! Colour measures on the analysis grid (float RGB planes in 0..=255).

use crate::frame::{ColorRange, ColorSpec, Matrix};

/// Number of bins per channel of the colour histogram.
pub const HISTOGRAM_LEVELS: usize = 4;
/// Bins of the colour histogram: a 4x4x4 RGB cube (Swain & Ballard's colour
/// indexing), bin = 16 * (R / 64) + 4 * (G / 64) + B / 64, summing to 1.
pub const HISTOGRAM_BINS: usize = HISTOGRAM_LEVELS * HISTOGRAM_LEVELS * HISTOGRAM_LEVELS;

/// The analysis grid of one frame: planar float RGB and Pillow-style gray.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub red: Vec<f32>,
    pub green: Vec<f32>,
    pub blue: Vec<f32>,
    /// `0.299 R + 0.587 G + 0.114 B`, the gray Pillow's `convert("L")` makes.
    pub gray: Vec<f32>,
}

impl Grid {
    /// Fill `gray` from the RGB planes.
    pub fn update_gray(&mut self) {
        self.gray.clear();
        self.gray.extend(
            self.red
                .iter()
                .zip(&self.green)
                .zip(&self.blue)
                .map(|((&r, &g), &b)| 0.299 * r + 0.587 * g + 0.114 * b),
        );
    }

    /// Convert grid-sized Y, Cb, Cr planes (8-bit codes, as floats) to RGB.
    pub fn set_from_ycbcr(&mut self, y: &[f32], cb: &[f32], cr: &[f32], spec: ColorSpec) {
        let (luma_offset, luma_gain, chroma_gain) = match spec.range {
            ColorRange::Limited => (16.0, 255.0 / 219.0, 255.0 / 224.0),
            ColorRange::Full => (0.0, 1.0, 1.0),
        };
        // Full-range R' G' B' from Y' and centred chroma (ITU-R BT.601 / BT.709).
        let (r_cr, g_cb, g_cr, b_cb) = match spec.matrix {
            Matrix::Bt601 => (1.402f32, 0.344_136f32, 0.714_136f32, 1.772f32),
            Matrix::Bt709 => (1.5748f32, 0.187_324f32, 0.468_124f32, 1.8556f32),
        };
        let n = y.len();
        for plane in [&mut self.red, &mut self.green, &mut self.blue] {
            plane.clear();
            plane.resize(n, 0.0);
        }
        for i in 0..n {
            let l = (y[i] - luma_offset) * luma_gain;
            let u = (cb[i] - 128.0) * chroma_gain;
            let v = (cr[i] - 128.0) * chroma_gain;
            self.red[i] = (l + r_cr * v).clamp(0.0, 255.0);
            self.green[i] = (l - g_cb * u - g_cr * v).clamp(0.0, 255.0);
            self.blue[i] = (l + b_cb * u).clamp(0.0, 255.0);
        }
        self.update_gray();
    }
}

/// Colour statistics of a grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorStats {
    /// Hasler & Süsstrunk (2003) colourfulness on the 0..=255 scale.
    pub colorfulness: f64,
    /// Mean HSV saturation, 0..=1.
    pub saturation: f64,
    /// Mean red, green and blue, 0..=1. Exactly linear under blending, which
    /// locates dissolves, and the basis of warm/cool colour judgements.
    pub mean_rgb: [f64; 3],
}

/// Colourfulness and saturation of a grid.
///
/// # Example
/// ```
/// use thumbsel_core::color::{color_stats, Grid};
/// let gray = Grid { width: 1, height: 2, red: vec![50.0; 2], green: vec![50.0; 2], blue: vec![50.0; 2], gray: vec![] };
/// assert_eq!(color_stats(&gray).colorfulness, 0.0);
/// ```
#[must_use]
pub fn color_stats(grid: &Grid) -> ColorStats {
    let n = grid.red.len().max(1) as f64;
    let [r_sum, g_sum, b_sum, rg_sum, rg_sq, yb_sum, yb_sq, sat_sum] = color_sums(&grid.red, &grid.green, &grid.blue);
    let (rg_mean, yb_mean) = (rg_sum / n, yb_sum / n);
    let rg_var = (rg_sq / n - rg_mean * rg_mean).max(0.0);
    let yb_var = (yb_sq / n - yb_mean * yb_mean).max(0.0);
    ColorStats {
        colorfulness: (rg_var + yb_var).sqrt() + 0.3 * (rg_mean * rg_mean + yb_mean * yb_mean).sqrt(),
        saturation: sat_sum / n,
        mean_rgb: [r_sum, g_sum, b_sum].map(|sum| sum / n / 255.0),
    }
}

/// Lanes of the colour sums: each sum is kept as this many partial sums so
/// the loop vectorises (the order of the additions differs from one running
/// sum only in the last bits).
const LANES: usize = 8;

/// Sums of R, G, B, rg, rg², yb, yb² and HSV saturation over the pixels.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn color_sums(red: &[f32], green: &[f32], blue: &[f32]) -> [f64; 8] {
    // Plain comparisons instead of `f32::max`, whose NaN rules stop the
    // compiler from using vector max; grid levels are never NaN.
    let larger = |a: f32, b: f32| if a > b { a } else { b };
    let smaller = |a: f32, b: f32| if a < b { a } else { b };
    let mut partial = [[0f64; LANES]; 8];
    let mut add = |lane: usize, r: f32, g: f32, b: f32| {
        let max = larger(larger(r, g), b);
        let min = smaller(smaller(r, g), b);
        let saturation = if max > 0.0 { (max - min) / max } else { 0.0 };
        let rg = f64::from(r - g);
        let yb = f64::from(0.5 * (r + g) - b);
        partial[0][lane] += f64::from(r);
        partial[1][lane] += f64::from(g);
        partial[2][lane] += f64::from(b);
        partial[3][lane] += rg;
        partial[4][lane] += rg * rg;
        partial[5][lane] += yb;
        partial[6][lane] += yb * yb;
        partial[7][lane] += f64::from(saturation);
    };
    let n = red.len().min(green.len()).min(blue.len());
    let (red, green, blue) = (&red[..n], &green[..n], &blue[..n]);
    let chunks = red
        .chunks_exact(LANES)
        .zip(green.chunks_exact(LANES))
        .zip(blue.chunks_exact(LANES));
    for ((r, g), b) in chunks {
        let (r, g, b): (&[f32; LANES], &[f32; LANES], &[f32; LANES]) = (
            r.try_into().expect("a whole chunk"),
            g.try_into().expect("a whole chunk"),
            b.try_into().expect("a whole chunk"),
        );
        for lane in 0..LANES {
            add(lane, r[lane], g[lane], b[lane]);
        }
    }
    for i in n - n % LANES..n {
        add(0, red[i], green[i], blue[i]);
    }
    partial.map(|sums| sums.iter().sum())
}

/// Normalised 4x4x4 RGB histogram of a grid.
#[must_use]
pub fn color_histogram(grid: &Grid) -> [f32; HISTOGRAM_BINS] {
    let bins = histogram_bins(&grid.red, &grid.green, &grid.blue);
    // Neighbouring cells usually share a bin: four interleaved partial
    // counts avoid the stall of bumping one counter twice in a row.
    let mut partial = [[0u32; HISTOGRAM_BINS]; 4];
    for (i, &bin) in bins.iter().enumerate() {
        partial[i % 4][usize::from(bin)] += 1;
    }
    let mut counts = [0u32; HISTOGRAM_BINS];
    for (bin, count) in counts.iter_mut().enumerate() {
        *count = partial.iter().map(|p| p[bin]).sum();
    }
    let n = grid.red.len().max(1) as f32;
    let mut out = [0f32; HISTOGRAM_BINS];
    for (o, &c) in out.iter_mut().zip(&counts) {
        *o = c as f32 / n;
    }
    out
}

/// Each cell's histogram bin, `16 * (R / 64) + 4 * (G / 64) + B / 64` of its
/// levels rounded to 8 bits: a loop apart from the counting, so it vectorises.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn histogram_bins(red: &[f32], green: &[f32], blue: &[f32]) -> Vec<u8> {
    let level = |v: f32| to_level(v) >> 6;
    red.iter()
        .zip(green)
        .zip(blue)
        .map(|((&r, &g), &b)| (level(r) << 4) | (level(g) << 2) | level(b))
        .collect()
}

/// Round a non-negative level to 8 bits. `f32::round` is a libm call that
/// does not inline; adding 0.5 and truncating is exact for this range.
#[inline]
#[must_use]
pub fn to_level(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

/// OpenCV's 8-bit HSV of one pixel: H in 0..180 (degrees / 2), S and V in 0..=255.
#[inline]
#[must_use]
pub fn hsv_u8(r: f32, g: f32, b: f32) -> [u8; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let s = if max > 0.0 { 255.0 * delta / max } else { 0.0 };
    let h = if delta <= 0.0 {
        0.0
    } else if max == r {
        60.0 * (g - b) / delta
    } else if max == g {
        120.0 + 60.0 * (b - r) / delta
    } else {
        240.0 + 60.0 * (r - g) / delta
    };
    let h = if h < 0.0 { h + 360.0 } else { h };
    let hue = (h / 2.0 + 0.5) as u32;
    [
        (if hue >= 180 { hue - 180 } else { hue }) as u8,
        to_level(s),
        to_level(max),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_matches_opencv_primaries() {
        assert_eq!(hsv_u8(255.0, 0.0, 0.0), [0, 255, 255]);
        assert_eq!(hsv_u8(0.0, 255.0, 0.0), [60, 255, 255]);
        assert_eq!(hsv_u8(0.0, 0.0, 255.0), [120, 255, 255]);
        assert_eq!(hsv_u8(10.0, 10.0, 10.0), [0, 0, 10]);
    }

    #[test]
    fn neutral_ycbcr_is_gray_and_black_maps_to_zero() {
        let mut grid = Grid::default();
        let spec = ColorSpec::default();
        grid.set_from_ycbcr(&[16.0, 235.0], &[128.0; 2], &[128.0; 2], spec);
        assert_eq!(grid.red, vec![0.0, 255.0]);
        assert_eq!(grid.green, grid.red);
        assert_eq!(grid.blue, grid.red);
        let stats = color_stats(&grid);
        assert!(stats.colorfulness.abs() < 1e-9 && stats.saturation.abs() < 1e-9);
    }

    #[test]
    fn histogram_sums_to_one() {
        let grid = Grid {
            width: 2,
            height: 1,
            red: vec![255.0, 0.0],
            green: vec![0.0, 0.0],
            blue: vec![0.0, 200.0],
            gray: vec![],
        };
        let h = color_histogram(&grid);
        assert_eq!(h[48], 0.5);
        assert_eq!(h[3], 0.5);
        assert!((h.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
