//! Full-resolution luma statistics: the only pass that reads every pixel.
//!
//! Exposure, contrast, entropy and the near-black/near-white fractions all
//! derive from one 256-bin histogram, so limited-range video is mapped to full
//! range through the histogram (256 operations) rather than per pixel.

use crate::frame::{ColorRange, Plane};
use crate::resize::{span, BandSums, ColumnSpans};

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

/// Rows the histogram reads, at least: every [`histogram_row_step`]-th row.
/// Scattered increments cannot be vectorised and cost more than anything
/// else in the pass, while 180 rows (230,000 pixels at 720p) give the
/// exposure statistics of every row to 0.002 in brightness, contrast and
/// the dark and bright fractions, and to 0.01 bits of entropy (measured on
/// four real clips, `benches/README.md` section 22). Sampling a fixed number
/// of rows keeps that error, and the cost, the same at every resolution.
/// Row and column sums, the Laplacian and the grid still see every pixel.
pub const HISTOGRAM_ROWS: usize = 180;

/// The step between the rows the histogram reads: 1 up to 359 rows, 4 at
/// 720p, 6 at 1080p, 12 at 2160p.
#[must_use]
pub fn histogram_row_step(height: usize) -> usize {
    (height / HISTOGRAM_ROWS).max(1)
}

/// What one streaming pass over a luma plane yields.
#[derive(Debug, Clone)]
pub struct LumaScan {
    /// Counts of each raw 8-bit code over every [`histogram_row_step`]-th row.
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
    let histogram_step = histogram_row_step(height);
    let mut column_sums = vec![0u32; width];
    let mut band = BandSums::new(width, height, gh);
    let column_spans = ColumnSpans::new(width, gw);
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
        band.clear();
        for y in r0..r1 {
            let row = plane.row(y);
            if y % histogram_step == 0 {
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
            // One read of the row for both the grid band and the bar detector's row means.
            row_sums.push(band.add_and_sum(row));
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
        band.reduce(r1 - r0, 1, &column_spans, i * gw, &mut out);
        band.add_to(&mut column_sums);
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

/// OpenCV's fixed-point weights of R, G and B (they sum to 2^15).
const GRAY_WEIGHTS: [u32; 3] = [9798, 19235, 3735];

/// [`rgb_to_gray`] of one row into `out` (one byte per pixel): 32 pixels at
/// a time with AVX2 (chosen at run time), and the tail (or every pixel, on
/// machines without it) one at a time. Both give the same bytes.
pub(crate) fn rgb_row_to_gray(rgb: &[u8], out: &mut [u8]) {
    split_rgb_row(rgb, out, None);
}

/// [`rgb_row_to_gray`], also writing the row's red, green and blue into
/// `planes` (one byte per pixel each) when given: the vector kernel has
/// them apart already, and planar rows reduce faster than interleaved ones.
pub(crate) fn split_rgb_row(rgb: &[u8], gray: &mut [u8], mut planes: Option<[&mut [u8]; 3]>) {
    let mut pixels = (rgb.len() / 3).min(gray.len());
    if let Some(planes) = &planes {
        pixels = planes.iter().map(|p| p.len()).fold(pixels, usize::min);
    }
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        let (rgb, gray) = (&rgb[..pixels * 3], &mut gray[..pixels]);
        // SAFETY: the CPU has AVX2 (checked above). The kernel reads and
        // writes only within the slices it is given.
        done = unsafe {
            match &mut planes {
                Some([r, g, b]) => gray_x86::split_avx2::<true>(rgb, gray, [&mut r[..], &mut g[..], &mut b[..]]),
                None => gray_x86::split_avx2::<false>(rgb, gray, [&mut [], &mut [], &mut []]),
            }
        };
    }
    let rest = &rgb[done * 3..pixels * 3];
    gray_scalar(rest, &mut gray[done..pixels]);
    if let Some(planes) = &mut planes {
        for (c, plane) in planes.iter_mut().enumerate() {
            for (p, v) in rest.chunks_exact(3).zip(&mut plane[done..pixels]) {
                *v = p[c];
            }
        }
    }
}

fn gray_scalar(rgb: &[u8], out: &mut [u8]) {
    let [wr, wg, wb] = GRAY_WEIGHTS;
    for (p, g) in rgb.chunks_exact(3).zip(out.iter_mut()) {
        *g = ((u32::from(p[0]) * wr + u32::from(p[1]) * wg + u32::from(p[2]) * wb + (1 << 14)) >> 15) as u8;
    }
}

#[cfg(target_arch = "x86_64")]
mod gray_x86 {
    use std::arch::x86_64::{
        __m128i, _mm256_add_epi32, _mm256_broadcastsi128_si256, _mm256_madd_epi16, _mm256_or_si256, _mm256_packs_epi32,
        _mm256_packus_epi16, _mm256_set1_epi32, _mm256_set_m128i, _mm256_setzero_si256, _mm256_shuffle_epi8,
        _mm256_srli_epi32, _mm256_storeu_si256, _mm256_unpackhi_epi16, _mm256_unpackhi_epi8, _mm256_unpacklo_epi16,
        _mm256_unpacklo_epi8, _mm_loadu_si128, _mm_setr_epi8,
    };

    use super::GRAY_WEIGHTS;

    /// Byte positions of one channel of 16 packed RGB pixels within each of
    /// the three 16-byte loads that hold them (-1: not in this load).
    const fn channel_masks(channel: usize) -> [[i8; 16]; 3] {
        let mut masks = [[-1i8; 16]; 3];
        let mut pixel = 0;
        while pixel < 16 {
            let byte = 3 * pixel + channel;
            masks[byte / 16][pixel] = (byte % 16) as i8;
            pixel += 1;
        }
        masks
    }

    const MASKS: [[[i8; 16]; 3]; 3] = [channel_masks(0), channel_masks(1), channel_masks(2)];

    #[inline]
    #[target_feature(enable = "avx2")]
    fn mask(m: &[i8; 16]) -> __m128i {
        _mm_setr_epi8(
            m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15],
        )
    }

    /// Gray of the first multiple of 32 pixels of the row, returning how many
    /// pixels it wrote; with `SPLIT`, their red, green and blue into `planes`
    /// too (which must then be as long as `gray`). Each pixel is
    /// `(9798 R + 19235 G + 3735 B + 2^14) >> 15`, as two pairs of 16-bit
    /// products summed in 32 bits (`pmaddwd`): exactly the scalar arithmetic.
    /// Each 128-bit lane takes 16 of the pixels (0-15 and 16-31), and every
    /// step stays within its lane, so the results come out in order.
    #[target_feature(enable = "avx2")]
    pub(super) fn split_avx2<const SPLIT: bool>(rgb: &[u8], gray: &mut [u8], planes: [&mut [u8]; 3]) -> usize {
        let [wr, wg, wb] = GRAY_WEIGHTS.map(|w| w as i32);
        let red_green = _mm256_set1_epi32((wg << 16) | wr);
        let blue_round = _mm256_set1_epi32(((1 << 14) << 16) | wb);
        let ones = _mm256_set1_epi32(0x0001_0001);
        let zero = _mm256_setzero_si256();
        let mut blocks = (rgb.len() / 96).min(gray.len() / 32);
        if SPLIT {
            blocks = planes.iter().map(|p| p.len() / 32).fold(blocks, usize::min);
        }
        let [red, green, blue] = planes;
        for i in 0..blocks {
            let block = &rgb[96 * i..96 * (i + 1)];
            // SAFETY: `block` holds 96 bytes: pixels 0-15 in bytes 0-47 and
            // 16-31 in bytes 48-95, each read as three unaligned 16-byte loads.
            let loads = unsafe {
                let at = |offset: usize| _mm_loadu_si128(block.as_ptr().add(offset).cast());
                [
                    _mm256_set_m128i(at(48), at(0)),
                    _mm256_set_m128i(at(64), at(16)),
                    _mm256_set_m128i(at(80), at(32)),
                ]
            };
            let channel = |c: usize| {
                let part = |i: usize| _mm256_shuffle_epi8(loads[i], _mm256_broadcastsi128_si256(mask(&MASKS[c][i])));
                _mm256_or_si256(_mm256_or_si256(part(0), part(1)), part(2))
            };
            let (r, g, b) = (channel(0), channel(1), channel(2));
            if SPLIT {
                for (plane, v) in [&mut *red, &mut *green, &mut *blue].into_iter().zip([r, g, b]) {
                    let dst = &mut plane[32 * i..32 * (i + 1)];
                    // SAFETY: `dst` holds 32 bytes.
                    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), v) };
                }
            }
            let half = |lo: bool| {
                let widen = |v| {
                    if lo {
                        _mm256_unpacklo_epi8(v, zero)
                    } else {
                        _mm256_unpackhi_epi8(v, zero)
                    }
                };
                let (r, g, b) = (widen(r), widen(g), widen(b));
                let quarter = |lo: bool| {
                    let (rg, b1) = if lo {
                        (_mm256_unpacklo_epi16(r, g), _mm256_unpacklo_epi16(b, ones))
                    } else {
                        (_mm256_unpackhi_epi16(r, g), _mm256_unpackhi_epi16(b, ones))
                    };
                    let sum = _mm256_add_epi32(_mm256_madd_epi16(rg, red_green), _mm256_madd_epi16(b1, blue_round));
                    _mm256_srli_epi32::<15>(sum)
                };
                _mm256_packs_epi32(quarter(true), quarter(false))
            };
            let dst = &mut gray[32 * i..32 * (i + 1)];
            // SAFETY: `dst` holds 32 bytes.
            unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), _mm256_packus_epi16(half(true), half(false))) };
        }
        blocks * 32
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
    let mut add = |l: i64| {
        sum += l;
        sum_sq += (l * l) as u64;
        count += 1;
    };
    if width < 3 || height < 3 {
        for y in 0..height {
            for x in 0..width {
                add(laplacian_at(plane, x, y));
            }
        }
        return (sum, sum_sq, count);
    }
    // Reflect-101 makes the row outside the top edge row 1, and the one
    // below the bottom row h - 2; the same for the columns at either end.
    let ends = |up: &[u8], mid: &[u8], down: &[u8]| -> [i64; 2] {
        let at = |row: &[u8], x: usize| i64::from(row[x]);
        let w = width - 1;
        [
            at(up, 0) + at(down, 0) + 2 * at(mid, 1) - 4 * at(mid, 0),
            at(up, w) + at(down, w) + 2 * at(mid, w - 1) - 4 * at(mid, w),
        ]
    };
    let mut interior = (0i64, 0u64, 0u64);
    for (y, neighbour) in [(0, 1), (height - 1, height - 2)] {
        let (mid, other) = (plane.row(y), plane.row(neighbour));
        ends(other, mid, other).into_iter().for_each(&mut add);
        let mut start = 1;
        while start < width - 1 {
            let end = (start + SEGMENT).min(width - 1);
            let (s, q) = laplacian_segment(other, mid, other, start, end);
            interior.0 += i64::from(s);
            interior.1 += u64::from(q);
            start = end;
        }
        interior.2 += (width - 2) as u64;
    }
    for y in 1..height - 1 {
        ends(plane.row(y - 1), plane.row(y), plane.row(y + 1))
            .into_iter()
            .for_each(&mut add);
    }
    (sum + interior.0, sum_sq + interior.1, count + interior.2)
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

/// Interior Laplacian sums over `start..end` of one row (at most
/// [`SEGMENT`] pixels): with AVX2 (chosen at run time), 16 pixels at a time.
fn laplacian_segment(up: &[u8], mid: &[u8], down: &[u8], start: usize, end: usize) -> (i32, u32) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above); the kernel reads only
        // within the slices it is given.
        let (done, s, q) =
            unsafe { laplacian_x86::sums_avx2(&up[start..end], &mid[start - 1..end + 1], &down[start..end]) };
        let (s_rest, q_rest) = laplacian_segment_plain(up, mid, down, start + done, end);
        return (s + s_rest, q + q_rest);
    }
    laplacian_segment_plain(up, mid, down, start, end)
}

#[cfg(target_arch = "x86_64")]
mod laplacian_x86 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi16, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepu8_epi16,
        _mm256_extracti128_si256, _mm256_madd_epi16, _mm256_set1_epi16, _mm256_setzero_si256, _mm256_slli_epi16,
        _mm256_sub_epi16, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32,
    };

    #[inline]
    #[target_feature(enable = "avx2")]
    fn horizontal_sum(v: __m256i) -> i32 {
        let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
        _mm_cvtsi128_si32(_mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v)))
    }

    /// Sums of the Laplacian and of its square over the first multiple of 16
    /// pixels of a row segment, returning how many pixels that was. `up` and
    /// `down` are the segment's rows above and below; `mid` is its row with
    /// one more pixel at each end. The Laplacian is exact in 16 bits
    /// (|l| <= 1020), and `pmaddwd` sums pairs of squares in 32 bits, so the
    /// sums equal the plain loop's.
    #[target_feature(enable = "avx2")]
    pub(super) fn sums_avx2(up: &[u8], mid: &[u8], down: &[u8]) -> (usize, i32, u32) {
        let pixels = up.len().min(down.len()).min(mid.len().saturating_sub(2));
        let blocks = pixels / 16;
        let ones = _mm256_set1_epi16(1);
        let (mut s, mut q) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for i in 0..blocks {
            let at = 16 * i;
            // SAFETY: each load reads 16 bytes within its slice: `at + 16 <=
            // pixels`, and `mid` holds `pixels + 2` bytes.
            let load = |row: &[u8], offset: usize| unsafe {
                _mm256_cvtepu8_epi16(_mm_loadu_si128(row.as_ptr().add(offset).cast()))
            };
            let sides = _mm256_add_epi16(
                _mm256_add_epi16(load(up, at), load(down, at)),
                _mm256_add_epi16(load(mid, at), load(mid, at + 2)),
            );
            let l = _mm256_sub_epi16(sides, _mm256_slli_epi16::<2>(load(mid, at + 1)));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(l, ones));
            q = _mm256_add_epi32(q, _mm256_madd_epi16(l, l));
        }
        // Each of q's eight lanes holds at most 4096 / 16 * 2 * 1020^2 < 2^31;
        // their sum may pass 2^31, but adding wraps, so read as u32 it is exact.
        (blocks * 16, horizontal_sum(s), horizontal_sum(q) as u32)
    }
}

/// [`laplacian_segment`] one pixel at a time, over plain slices so the
/// compiler vectorises what it can.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn laplacian_segment_plain(up: &[u8], mid: &[u8], down: &[u8], start: usize, end: usize) -> (i32, u32) {
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
    fn vector_laplacian_sums_are_exact_at_every_width_and_at_the_extreme() {
        // Integer sums against the one-pixel-at-a-time loop: every width
        // around the 16-pixel blocks on noise, and a 0/255 checkerboard a
        // whole segment wide, where every |l| is 1020 and the square sum is
        // near its 2^32 bound.
        let checkerboard = |w: usize| -> Vec<u8> {
            (0..3 * w)
                .map(|i| if (i % w + i / w).is_multiple_of(2) { 0 } else { 255 })
                .collect()
        };
        let mut cases: Vec<Vec<u8>> = (3..80)
            .chain([4098, 4100])
            .map(|w| pseudo_random(3 * w, w as u64))
            .collect();
        cases.push(checkerboard(SEGMENT + 2));
        for rows in &cases {
            let w = rows.len() / 3;
            let (up, mid, down) = (&rows[..w], &rows[w..2 * w], &rows[2 * w..]);
            let end = (w - 1).min(1 + SEGMENT);
            assert_eq!(
                laplacian_segment(up, mid, down, 1, end),
                laplacian_segment_plain(up, mid, down, 1, end),
                "width {w}"
            );
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

    #[test]
    fn the_vector_gray_equals_the_scalar_one() {
        // Every length from empty to past three blocks (so each tail size),
        // on noise and on the extremes of every channel.
        let noise = pseudo_random(3 * 70, 5);
        let extremes: Vec<u8> = (0..3 * 70)
            .map(|i| if (i / 3 + i % 3) % 2 == 0 { 255 } else { 0 })
            .collect();
        let ramp: Vec<u8> = (0..3 * 256).map(|i| (i / 3) as u8).collect();
        for data in [&noise, &extremes, &ramp] {
            for pixels in (0..=70).chain([256]) {
                let Some(rgb) = data.get(..3 * pixels) else { continue };
                let mut fast = vec![0u8; pixels];
                let mut slow = vec![0u8; pixels];
                rgb_row_to_gray(rgb, &mut fast);
                gray_scalar(rgb, &mut slow);
                assert_eq!(fast, slow, "{pixels} pixels");
                let mut split_gray = vec![0u8; pixels];
                let mut planes = vec![vec![0u8; pixels]; 3];
                let [r, g, b] = &mut planes[..] else { unreachable!() };
                split_rgb_row(rgb, &mut split_gray, Some([r, g, b]));
                assert_eq!(split_gray, slow, "{pixels} pixels, split");
                for (c, plane) in planes.iter().enumerate() {
                    let channel: Vec<u8> = rgb.chunks_exact(3).map(|p| p[c]).collect();
                    assert_eq!(plane, &channel, "{pixels} pixels, channel {c}");
                }
            }
        }
    }
}
