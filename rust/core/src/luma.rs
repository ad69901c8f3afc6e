//! Full-resolution luma statistics: the only pass that reads every pixel.
//!
//! Exposure, contrast, entropy and the near-black/near-white fractions all
//! derive from one 256-bin histogram, so limited-range video is mapped to full
//! range through the histogram (256 operations) rather than per pixel.

use crate::frame::{ColorRange, Plane};
use crate::resize::{add_row, reduce_band, span};

/// Luma at or below this full-range level counts as near-black (about 7%).
pub const NEAR_BLACK_LEVEL: usize = 18;
/// Luma at or above this full-range level counts as near-white (about 94%).
pub const NEAR_WHITE_LEVEL: usize = 240;
/// A row or column whose mean full-range luma is at or below this is a bar candidate.
pub const BAR_LEVEL: f64 = 24.0;

/// Full-range level of an 8-bit luma code.
#[must_use]
pub fn to_full_range(code: u8, range: ColorRange) -> u8 {
    match range {
        ColorRange::Full => code,
        ColorRange::Limited => {
            let v = (f64::from(code) - 16.0) * 255.0 / 219.0;
            v.round().clamp(0.0, 255.0) as u8
        }
    }
}

/// Factor that turns limited-range luma differences into full-range ones.
#[must_use]
pub fn range_gain(range: ColorRange) -> f64 {
    match range {
        ColorRange::Full => 1.0,
        ColorRange::Limited => 255.0 / 219.0,
    }
}

/// The histogram reads every second row. Scattered increments cannot be
/// vectorised and cost more than everything else in the pass; half a frame's
/// rows (460,000 pixels at 720p) give the same exposure statistics to about
/// three decimal places, while row/column sums and the grid still see every pixel.
pub const HISTOGRAM_ROW_STEP: usize = 2;

/// What one streaming pass over a luma plane yields.
#[derive(Debug, Clone)]
pub struct LumaScan {
    /// Counts of each raw 8-bit code over every [`HISTOGRAM_ROW_STEP`]-th row.
    pub histogram: [u32; 256],
    /// Sum of raw codes per row.
    pub row_sums: Vec<u32>,
    /// Sum of raw codes per column.
    pub column_sums: Vec<u32>,
    /// Laplacian sums of the whole plane, taken in the same pass.
    pub laplacian: LaplacianSums,
    /// Mean squared Laplacian of the interior pixels of each block of a
    /// [`SHARPNESS_BLOCKS_X`] x [`SHARPNESS_BLOCKS_Y`] grid (row-major): where
    /// the picture is in focus.
    pub sharpness_blocks: Vec<f64>,
}

/// Columns of the block grid of focus measurements.
pub const SHARPNESS_BLOCKS_X: usize = 16;
/// Rows of the block grid of focus measurements.
pub const SHARPNESS_BLOCKS_Y: usize = 9;

/// Sums of the Laplacian and of its square over a plane, kept exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaplacianSums {
    pub sum: i64,
    pub sum_sq: u64,
    pub count: u64,
}

impl LaplacianSums {
    fn add(&mut self, other: (i64, u64, u64)) {
        self.sum += other.0;
        self.sum_sq += other.1;
        self.count += other.2;
    }

    /// Population variance, from exact integer sums.
    #[must_use]
    pub fn variance(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = i128::from(self.count);
        let numerator = n * i128::from(self.sum_sq) - i128::from(self.sum) * i128::from(self.sum);
        numerator as f64 / (n * n) as f64
    }
}

/// Histogram, row/column sums and the box reduction of luma to the analysis
/// grid (`gw x gh`, written to `grid`), in one pass over the plane.
pub fn scan(plane: &Plane<'_>, gw: usize, gh: usize, grid: &mut Vec<f32>) -> LumaScan {
    let (width, height) = (plane.width(), plane.height());
    // Four interleaved histograms avoid the store-to-load stall of bumping the
    // same counter twice in a row on flat image regions.
    let mut partial = [[0u32; 256]; 4];
    let mut row_sums = Vec::with_capacity(height);
    let mut column_sums = vec![0u32; width];
    let mut band = vec![0u32; width];
    let column_spans: Vec<(usize, usize)> = (0..gw).map(|j| span(j, width, gw)).collect();
    let mut laplacian = LaplacianSums::default();
    let block_edges: Vec<usize> = (0..=SHARPNESS_BLOCKS_X)
        .map(|j| j * width / SHARPNESS_BLOCKS_X)
        .collect();
    let mut block_energy = vec![0u64; SHARPNESS_BLOCKS_X * SHARPNESS_BLOCKS_Y];
    let mut block_count = vec![0u64; SHARPNESS_BLOCKS_X * SHARPNESS_BLOCKS_Y];
    let mut out = [std::mem::take(grid)];
    out[0].clear();
    out[0].resize(gw * gh, 0.0);
    for i in 0..gh {
        let (r0, r1) = span(i, height, gh);
        band.iter_mut().for_each(|a| *a = 0);
        for y in r0..r1 {
            let row = plane.row(y);
            if y % HISTOGRAM_ROW_STEP == 0 {
                let mut quads = row.chunks_exact(4);
                for q in &mut quads {
                    partial[0][q[0] as usize] += 1;
                    partial[1][q[1] as usize] += 1;
                    partial[2][q[2] as usize] += 1;
                    partial[3][q[3] as usize] += 1;
                }
                for &p in quads.remainder() {
                    partial[0][p as usize] += 1;
                }
            }
            row_sums.push(row_sum(row));
            add_row(&mut band, row);
            // The Laplacian of the row above needs this row too: reading it
            // now, while the three rows are in cache, saves a second pass.
            if y >= 2 && width >= 3 {
                let block_row = ((y - 1) * SHARPNESS_BLOCKS_Y / height) * SHARPNESS_BLOCKS_X;
                laplacian.add(interior_row_block_sums(
                    plane,
                    y - 1,
                    &block_edges,
                    &mut block_energy[block_row..block_row + SHARPNESS_BLOCKS_X],
                    &mut block_count[block_row..block_row + SHARPNESS_BLOCKS_X],
                ));
            }
        }
        reduce_band(&band, r1 - r0, 1, &column_spans, i * gw, &mut out);
        for (c, &b) in column_sums.iter_mut().zip(&band) {
            *c += b;
        }
    }
    *grid = std::mem::take(&mut out[0]);
    let mut histogram = [0u32; 256];
    for (i, bin) in histogram.iter_mut().enumerate() {
        *bin = partial[0][i] + partial[1][i] + partial[2][i] + partial[3][i];
    }
    laplacian.add(edge_sums(plane));
    let sharpness_blocks = block_energy
        .iter()
        .zip(&block_count)
        .map(|(&e, &c)| if c == 0 { 0.0 } else { e as f64 / c as f64 })
        .collect();
    LumaScan {
        histogram,
        row_sums,
        column_sums,
        laplacian,
        sharpness_blocks,
    }
}

#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn row_sum(row: &[u8]) -> u32 {
    row.iter().map(|&p| u32::from(p)).sum()
}

/// Exposure statistics on the full-range scale, each in 0..=1 except entropy (bits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LumaStats {
    pub brightness: f64,
    pub contrast: f64,
    pub dark_fraction: f64,
    pub bright_fraction: f64,
    pub entropy: f64,
}

/// Statistics of a raw-code histogram, mapped to full range first.
#[must_use]
pub fn stats(raw_histogram: &[u32; 256], range: ColorRange) -> LumaStats {
    let mut full = [0u64; 256];
    for (code, &count) in raw_histogram.iter().enumerate() {
        full[to_full_range(code as u8, range) as usize] += u64::from(count);
    }
    let total: u64 = full.iter().sum();
    let n = total.max(1) as f64;
    let (mut sum, mut sum_sq) = (0u64, 0u64);
    for (level, &count) in full.iter().enumerate() {
        sum += level as u64 * count;
        sum_sq += (level * level) as u64 * count;
    }
    let mean = sum as f64 / n;
    let variance = (sum_sq as f64 / n - mean * mean).max(0.0);
    let dark: u64 = full[..=NEAR_BLACK_LEVEL].iter().sum();
    let bright: u64 = full[NEAR_WHITE_LEVEL..].iter().sum();
    let entropy = full
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum::<f64>();
    LumaStats {
        brightness: mean / 255.0,
        contrast: variance.sqrt() / 255.0,
        dark_fraction: dark as f64 / n,
        bright_fraction: bright as f64 / n,
        entropy,
    }
}

/// Number of leading entries whose mean level marks a black bar; `sums` are
/// raw-code sums over `count` pixels each.
fn leading_dark(sums: impl Iterator<Item = u32>, count: usize, range: ColorRange) -> usize {
    let floor = match range {
        ColorRange::Full => 0.0,
        ColorRange::Limited => 16.0,
    };
    let gain = range_gain(range);
    sums.take_while(|&s| (f64::from(s) / count as f64 - floor) * gain <= BAR_LEVEL)
        .count()
}

/// Black bars of one frame: rows at top and bottom, columns at left and right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bars {
    pub top: u32,
    pub bottom: u32,
    pub left: u32,
    pub right: u32,
}

/// Bars from the row and column sums of one scan. A frame that is dark
/// everywhere reports bars covering all of it; callers decide what that means
/// across a title (see the Python layer's letterbox estimate).
#[must_use]
pub fn bars(scan: &LumaScan, width: usize, height: usize, range: ColorRange) -> Bars {
    let top = leading_dark(scan.row_sums.iter().copied(), width, range);
    let bottom = if top == height {
        height
    } else {
        leading_dark(scan.row_sums.iter().rev().copied(), width, range)
    };
    let left = leading_dark(scan.column_sums.iter().copied(), height, range);
    let right = if left == width {
        width
    } else {
        leading_dark(scan.column_sums.iter().rev().copied(), height, range)
    };
    Bars {
        top: top as u32,
        bottom: bottom as u32,
        left: left as u32,
        right: right as u32,
    }
}

/// OpenCV's 8-bit `RGB2GRAY` (as of OpenCV 5): BT.601 weights in 15-bit
/// fixed point with rounding, so the Laplacian below matches
/// `cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F)` exactly.
pub fn rgb_to_gray(rgb: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(rgb.len() / 3, 0);
    rgb_row_to_gray(rgb, out);
}

/// [`rgb_to_gray`] of one row into `out` (one byte per pixel); compiled for
/// AVX2 too, chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
pub(crate) fn rgb_row_to_gray(rgb: &[u8], out: &mut [u8]) {
    for (p, g) in rgb.chunks_exact(3).zip(out.iter_mut()) {
        *g = ((u32::from(p[0]) * 9798 + u32::from(p[1]) * 19235 + u32::from(p[2]) * 3735 + (1 << 14)) >> 15) as u8;
    }
}

#[inline]
fn reflect101(i: isize, n: usize) -> usize {
    // OpenCV's BORDER_REFLECT_101: -1 -> 1, n -> n - 2; a 1-pixel axis maps to itself.
    if n == 1 {
        return 0;
    }
    let n = n as isize;
    let r = if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    };
    r as usize
}

/// Laplacian at one pixel with reflect-101 borders (the slow, general path).
fn laplacian_at(plane: &Plane<'_>, x: usize, y: usize) -> i64 {
    let (width, height) = (plane.width(), plane.height());
    let at = |xx: isize, yy: isize| -> i64 { i64::from(plane.row(reflect101(yy, height))[reflect101(xx, width)]) };
    let (xi, yi) = (x as isize, y as isize);
    at(xi, yi - 1) + at(xi, yi + 1) + at(xi - 1, yi) + at(xi + 1, yi) - 4 * at(xi, yi)
}

/// Width of the row segments whose sums fit a `u32`: 1020^2 * 4096 < 2^32.
const SEGMENT: usize = 4096;

/// Laplacian sums of the interior pixels (`1..width - 1`) of row `y`,
/// which must have a row above and below it.
fn interior_row_sums(plane: &Plane<'_>, y: usize) -> (i64, u64, u64) {
    let width = plane.width();
    let (up, mid, down) = (plane.row(y - 1), plane.row(y), plane.row(y + 1));
    let (mut sum, mut sum_sq) = (0i64, 0u64);
    let mut start = 1;
    while start < width - 1 {
        let end = (start + SEGMENT).min(width - 1);
        let (s, q) = laplacian_segment(up, mid, down, start, end);
        sum += i64::from(s);
        sum_sq += u64::from(q);
        start = end;
    }
    (sum, sum_sq, (width - 2) as u64)
}

/// [`interior_row_sums`], also adding each column block's squared Laplacian
/// to `energy` (and its pixel count to `count`); `edges` are the blocks'
/// column boundaries.
fn interior_row_block_sums(
    plane: &Plane<'_>,
    y: usize,
    edges: &[usize],
    energy: &mut [u64],
    count: &mut [u64],
) -> (i64, u64, u64) {
    let width = plane.width();
    let (up, mid, down) = (plane.row(y - 1), plane.row(y), plane.row(y + 1));
    let (mut sum, mut sum_sq, mut pixels) = (0i64, 0u64, 0u64);
    for (block, window) in edges.windows(2).enumerate() {
        let mut start = window[0].max(1);
        let stop = window[1].min(width - 1);
        while start < stop {
            let end = (start + SEGMENT).min(stop);
            let (s, q) = laplacian_segment(up, mid, down, start, end);
            sum += i64::from(s);
            sum_sq += u64::from(q);
            energy[block] += u64::from(q);
            count[block] += (end - start) as u64;
            pixels += (end - start) as u64;
            start = end;
        }
    }
    (sum, sum_sq, pixels)
}

/// Laplacian sums of every pixel that [`interior_row_sums`] does not cover:
/// the first and last rows and columns, or the whole plane when it is
/// narrower or shorter than 3 pixels.
fn edge_sums(plane: &Plane<'_>) -> (i64, u64, u64) {
    let (width, height) = (plane.width(), plane.height());
    let (mut sum, mut sum_sq, mut count) = (0i64, 0u64, 0u64);
    let mut add = |x: usize, y: usize| {
        let l = laplacian_at(plane, x, y);
        sum += l;
        sum_sq += (l * l) as u64;
        count += 1;
    };
    if width < 3 || height < 3 {
        for y in 0..height {
            for x in 0..width {
                add(x, y);
            }
        }
    } else {
        for y in [0, height - 1] {
            for x in 0..width {
                add(x, y);
            }
        }
        for y in 1..height - 1 {
            add(0, y);
            add(width - 1, y);
        }
    }
    (sum, sum_sq, count)
}

/// Variance of the 3x3 Laplacian `[0,1,0; 1,-4,1; 0,1,0]` over the whole
/// plane with reflect-101 borders, computed exactly in integers: OpenCV's
/// `cv2.Laplacian(gray, cv2.CV_64F).var()`.
///
/// # Example
/// ```
/// // A single bright pixel in a 3x3 black frame.
/// let plane = [0, 0, 0, 0, 255, 0, 0, 0, 0];
/// let v = thumbsel_core::luma::laplacian_variance(&plane, 3, 3);
/// assert!(v > 0.0);
/// assert_eq!(thumbsel_core::luma::laplacian_variance(&[7; 9], 3, 3), 0.0);
/// ```
///
/// A buffer that does not hold `width * height` bytes gives 0.
#[must_use]
pub fn laplacian_variance(plane: &[u8], width: usize, height: usize) -> f64 {
    let Ok(plane) = Plane::packed("gray", plane, width, height) else {
        return 0.0;
    };
    let mut sums = LaplacianSums::default();
    sums.add(edge_sums(&plane));
    if width >= 3 {
        for y in 1..height.saturating_sub(1) {
            sums.add(interior_row_sums(&plane, y));
        }
    }
    sums.variance()
}

/// Interior Laplacian sums over `start..end` of one row; written over plain
/// slices so the compiler vectorises it.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn laplacian_segment(up: &[u8], mid: &[u8], down: &[u8], start: usize, end: usize) -> (i32, u32) {
    let (mut s, mut q) = (0i32, 0u32);
    let up = &up[start..end];
    let down = &down[start..end];
    let left = &mid[start - 1..end - 1];
    let center = &mid[start..end];
    let right = &mid[start + 1..end + 1];
    for i in 0..center.len() {
        // |l| <= 1020 fits i16, which doubles the SIMD lanes; squares widen to i32.
        let l =
            i16::from(up[i]) + i16::from(down[i]) + i16::from(left[i]) + i16::from(right[i]) - 4 * i16::from(center[i]);
        s += i32::from(l);
        q += (i32::from(l) * i32::from(l)) as u32;
    }
    (s, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_variance(plane: &[u8], w: usize, h: usize) -> f64 {
        let values: Vec<f64> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| laplacian_at(&Plane::packed("t", plane, w, h).unwrap(), x, y) as f64)
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (s >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn fast_laplacian_matches_naive_on_odd_shapes() {
        for (w, h) in [(1, 1), (1, 5), (5, 1), (2, 2), (3, 3), (7, 5), (33, 17), (4100, 3)] {
            let plane = pseudo_random(w * h, (w * 31 + h) as u64);
            let fast = laplacian_variance(&plane, w, h);
            let slow = naive_variance(&plane, w, h);
            assert!((fast - slow).abs() <= 1e-9 * slow.max(1.0), "{w}x{h}: {fast} vs {slow}");
        }
    }

    #[test]
    fn fused_scan_laplacian_equals_standalone() {
        for (w, h) in [(1, 1), (2, 7), (3, 3), (17, 9), (64, 33)] {
            let plane = pseudo_random(w * h, (w + 7 * h) as u64);
            let mut grid = Vec::new();
            let packed = Plane::packed("t", &plane, w, h).unwrap();
            let fused = scan(&packed, 1.max(w / 4), 1.max(h / 4), &mut grid).laplacian;
            // The same pixels with padded rows give the same sums.
            let stride = w + 5;
            let mut padded = vec![0u8; (h - 1) * stride + w];
            for y in 0..h {
                padded[y * stride..y * stride + w].copy_from_slice(&plane[y * w..(y + 1) * w]);
            }
            let strided = Plane::new("t", &padded, w, h, stride).unwrap();
            let mut grid2 = Vec::new();
            let again = scan(&strided, 1.max(w / 4), 1.max(h / 4), &mut grid2);
            assert_eq!(again.laplacian, fused);
            assert_eq!(again.sharpness_blocks.len(), SHARPNESS_BLOCKS_X * SHARPNESS_BLOCKS_Y);
            assert_eq!(grid2, grid);
            assert_eq!(fused.count, (w * h) as u64);
            assert_eq!(fused.variance(), laplacian_variance(&plane, w, h), "{w}x{h}");
        }
    }

    #[test]
    fn stats_of_limited_range_black_and_white() {
        let mut hist = [0u32; 256];
        hist[16] = 50;
        hist[235] = 50;
        let s = stats(&hist, ColorRange::Limited);
        assert!((s.brightness - 0.5).abs() < 1e-12);
        assert!((s.contrast - 0.5).abs() < 1e-12);
        assert!((s.dark_fraction - 0.5).abs() < 1e-12);
        assert!((s.bright_fraction - 0.5).abs() < 1e-12);
        assert!((s.entropy - 1.0).abs() < 1e-12);
    }

    #[test]
    fn letterbox_bars_found() {
        let (w, h) = (8, 10);
        let mut plane = vec![16u8; w * h];
        for y in 2..8 {
            for x in 1..7 {
                plane[y * w + x] = 120;
            }
        }
        let mut grid = Vec::new();
        let scan = scan(&Plane::packed("t", &plane, w, h).unwrap(), 2, 2, &mut grid);
        assert_eq!(scan.column_sums.iter().sum::<u32>(), scan.row_sums.iter().sum::<u32>());
        let b = bars(&scan, w, h, ColorRange::Limited);
        assert_eq!(
            b,
            Bars {
                top: 2,
                bottom: 2,
                left: 1,
                right: 1
            }
        );
        let black = vec![16u8; w * h];
        let all = bars(
            &super::scan(&Plane::packed("t", &black, w, h).unwrap(), 1, 1, &mut grid),
            w,
            h,
            ColorRange::Limited,
        );
        assert_eq!((all.top, all.left), (h as u32, w as u32));
    }

    #[test]
    fn gray_matches_opencv_fixed_point() {
        let mut out = Vec::new();
        rgb_to_gray(&[255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255], &mut out);
        // cv2.cvtColor of pure R, G, B, white.
        assert_eq!(out, vec![76, 150, 29, 255]);
    }
}
