//! Downscaling: an area (box) reduction to the analysis grid, and the
//! Lanczos resampling that `imagehash` uses (through Pillow) before hashing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::frame::Plane;

/// Widest analysis grid, in pixels.
pub const GRID_MAX_WIDTH: usize = 160;

/// Size of the analysis grid for a frame: the frame area-averaged by the
/// smallest even factor that brings it to at most 160 pixels wide (81-160
/// for anything wider than 160; the native size halved for small video; at
/// least 1x1). Colour, gradients, hashes and change signals are measured on
/// it; only exposure and sharpness read every pixel. Keeping the grid the
/// same size at every resolution keeps its cost fixed per frame, while
/// leaving 5x more detail than the 32x32 image pHash needs. The factor is even
/// so 4:2:0 chroma reduces by a whole factor too.
///
/// # Example
/// ```
/// use thumbsel_core::resize::grid_size;
/// assert_eq!(grid_size(1280, 720), (160, 90));
/// assert_eq!(grid_size(1920, 1080), (160, 90));
/// assert_eq!(grid_size(480, 270), (120, 67));
/// assert_eq!(grid_size(176, 144), (88, 72));
/// assert_eq!(grid_size(1, 1), (1, 1));
/// ```
#[must_use]
pub fn grid_size(width: usize, height: usize) -> (usize, usize) {
    let factor = 2 * width.div_ceil(2 * GRID_MAX_WIDTH).max(1);
    ((width / factor).max(1), (height / factor).max(1))
}

/// Source range `[start, end)` covered by output cell `i` of `out` cells.
/// Every source pixel lands in exactly one cell; when `src < out` a source
/// pixel is repeated instead.
#[inline]
pub(crate) fn span(i: usize, src: usize, out: usize) -> (usize, usize) {
    let start = i * src / out;
    let end = ((i + 1) * src / out).max(start + 1).min(src);
    (start, end)
}

/// Area-average `channels`-interleaved 8-bit `src` (`sw x sh`, packed rows)
/// to `ow x oh`, writing channel `c` into `out[c]` as floats.
///
/// # Panics
/// With more than 4 channels (gray, RGB and RGBA are what frames have).
pub fn box_reduce(src: &[u8], sw: usize, sh: usize, channels: usize, ow: usize, oh: usize, out: &mut [Vec<f32>]) {
    assert!(channels <= 4, "box_reduce takes at most 4 channels, not {channels}");
    debug_assert_eq!(src.len(), sw * sh * channels);
    let row_len = sw * channels;
    box_reduce_rows(|y| &src[y * row_len..(y + 1) * row_len], sw, sh, channels, ow, oh, out);
}

/// [`box_reduce`] of packed RGB to the grid, and its gray (OpenCV's
/// `RGB2GRAY`, [`crate::luma::rgb_to_gray`]) into `gray`, in one pass: each
/// row is converted while it is in cache, and split into planar red, green
/// and blue rows on the way (which reduce faster than interleaved ones),
/// instead of the frame being read from memory twice.
pub fn box_reduce_rgb_and_gray(
    src: &[u8],
    sw: usize,
    sh: usize,
    ow: usize,
    oh: usize,
    out: &mut [Vec<f32>],
    gray: &mut Vec<u8>,
) {
    debug_assert_eq!(src.len(), sw * sh * 3);
    gray.clear();
    gray.resize(sw * sh, 0);
    for plane in out.iter_mut().take(3) {
        plane.clear();
        plane.resize(ow * oh, 0.0);
    }
    let row_len = sw * 3;
    let columns = ColumnSpans::new(sw, ow);
    let mut split = vec![0u8; 3 * sw];
    let mut bands = [(); 3].map(|()| BandSums::new(sw, sh, oh));
    let mut converted = 0;
    for i in 0..oh {
        let (r0, r1) = span(i, sh, oh);
        bands.iter_mut().for_each(BandSums::clear);
        for y in r0..r1 {
            let (red, rest) = split.split_at_mut(sw);
            let (green, blue) = rest.split_at_mut(sw);
            // Rows come in order, each once, when the grid is no taller than
            // the frame; a taller grid repeats rows, already converted.
            let target: &mut [u8] = if y == converted {
                &mut gray[y * sw..(y + 1) * sw]
            } else {
                &mut vec![0; sw]
            };
            crate::luma::split_rgb_row(&src[y * row_len..(y + 1) * row_len], target, Some([red, green, blue]));
            converted = converted.max(y + 1);
            for (band, plane) in bands.iter_mut().zip(split.chunks_exact(sw)) {
                band.add(plane);
            }
        }
        for (band, plane) in bands.iter().zip(out.iter_mut()) {
            band.reduce(r1 - r0, 1, &columns, i * ow, std::slice::from_mut(plane));
        }
    }
    if converted < sh {
        crate::luma::rgb_row_to_gray(&src[converted * row_len..], &mut gray[converted * sw..]);
    }
}

/// [`box_reduce`] of one plane that may have padded rows.
pub fn box_reduce_plane(plane: &Plane<'_>, ow: usize, oh: usize, out: &mut Vec<f32>) {
    let mut planes = [std::mem::take(out)];
    box_reduce_rows(|y| plane.row(y), plane.width(), plane.height(), 1, ow, oh, &mut planes);
    *out = std::mem::take(&mut planes[0]);
}

fn box_reduce_rows<'a>(
    mut row: impl FnMut(usize) -> &'a [u8],
    sw: usize,
    sh: usize,
    channels: usize,
    ow: usize,
    oh: usize,
    out: &mut [Vec<f32>],
) {
    for plane in out.iter_mut().take(channels) {
        plane.clear();
        plane.resize(ow * oh, 0.0);
    }
    let column_spans = ColumnSpans::new(sw, ow);
    let mut band = BandSums::new(sw * channels, sh, oh);
    for i in 0..oh {
        let (r0, r1) = span(i, sh, oh);
        band.clear();
        (r0..r1).for_each(|y| band.add(row(y)));
        band.reduce(r1 - r0, channels, &column_spans, i * ow, out);
    }
}

/// Per-column sums of a band of rows, for the grid's cells. In 16 bits when
/// every band of the frame fits (at most 257 rows of 8-bit values: 65,535),
/// which takes half the vector work of 32; real frames' grid bands are a
/// few rows tall, so 32 bits are for odd shapes.
pub(crate) enum BandSums {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl BandSums {
    /// Sums of `width` columns, for the bands [`span`] makes of `src` rows for `out` cells.
    pub(crate) fn new(width: usize, src: usize, out: usize) -> Self {
        let tallest = (0..out)
            .map(|i| span(i, src, out))
            .map(|(r0, r1)| r1 - r0)
            .max()
            .unwrap_or(0);
        if tallest <= usize::from(u16::MAX) / 255 {
            Self::Narrow(vec![0; width])
        } else {
            Self::Wide(vec![0; width])
        }
    }

    pub(crate) fn clear(&mut self) {
        match self {
            Self::Narrow(sums) => sums.fill(0),
            Self::Wide(sums) => sums.fill(0),
        }
    }

    /// Add a row.
    pub(crate) fn add(&mut self, row: &[u8]) {
        match self {
            Self::Narrow(sums) => add_row_u16(sums, row),
            Self::Wide(sums) => add_row(sums, row),
        }
    }

    /// Add a row and return its sum: one read of the row for both.
    pub(crate) fn add_and_sum(&mut self, row: &[u8]) -> u32 {
        match self {
            Self::Narrow(sums) => add_row_and_sum_u16(sums, row),
            Self::Wide(sums) => add_row_and_sum(sums, row),
        }
    }

    /// [`reduce_band`] of these sums.
    pub(crate) fn reduce(
        &self,
        rows: usize,
        channels: usize,
        columns: &ColumnSpans,
        offset: usize,
        out: &mut [Vec<f32>],
    ) {
        match self {
            Self::Narrow(sums) => reduce_band(sums, rows, channels, columns, offset, out),
            Self::Wide(sums) => reduce_band(sums, rows, channels, columns, offset, out),
        }
    }

    /// Add these sums to `totals`, column by column.
    pub(crate) fn add_to(&self, totals: &mut [u32]) {
        match self {
            Self::Narrow(sums) => totals.iter_mut().zip(sums).for_each(|(t, &s)| *t += u32::from(s)),
            Self::Wide(sums) => totals.iter_mut().zip(sums).for_each(|(t, &s)| *t += s),
        }
    }
}

/// The source columns of each output cell, and how many there are (as
/// floats, ready to divide by).
pub(crate) struct ColumnSpans {
    spans: Vec<(usize, usize)>,
    widths: Vec<f32>,
    /// The width every cell has, when the output divides the source.
    uniform: Option<usize>,
}

impl ColumnSpans {
    pub(crate) fn new(src: usize, out: usize) -> Self {
        let spans: Vec<(usize, usize)> = (0..out).map(|j| span(j, src, out)).collect();
        let widths = spans.iter().map(|&(c0, c1)| (c1 - c0) as f32).collect();
        let uniform = (out > 0 && src.is_multiple_of(out)).then_some(src / out);
        Self { spans, widths, uniform }
    }
}

/// Cell totals when every cell is `K` columns wide (the usual case: the grid
/// factor divides the frame), `K` known when compiling so each cell's sum is
/// a few vector adds instead of a loop.
fn uniform_totals<T: Copy + Into<u32>, const K: usize>(acc: &[T], cells: &mut [f32]) {
    for (cell, chunk) in cells.iter_mut().zip(acc.chunks_exact(K)) {
        let chunk: &[T; K] = chunk.try_into().expect("a whole cell");
        *cell = chunk.iter().map(|&v| v.into()).sum::<u32>() as f32;
    }
}

/// Average an accumulated band of `rows` rows into output row starting at `offset`.
pub(crate) fn reduce_band<T: Copy + Into<u32>>(
    acc: &[T],
    rows: usize,
    channels: usize,
    columns: &ColumnSpans,
    offset: usize,
    out: &mut [Vec<f32>],
) {
    let n = columns.spans.len();
    // The totals first (one slice per cell), divided below, all cells at once.
    if channels == 1 {
        let cells = &mut out[0][offset..offset + n];
        match columns.uniform {
            Some(2) => uniform_totals::<T, 2>(acc, cells),
            Some(4) => uniform_totals::<T, 4>(acc, cells),
            Some(6) => uniform_totals::<T, 6>(acc, cells),
            Some(8) => uniform_totals::<T, 8>(acc, cells),
            Some(12) => uniform_totals::<T, 12>(acc, cells),
            _ => {
                for (cell, &(c0, c1)) in cells.iter_mut().zip(&columns.spans) {
                    *cell = acc[c0..c1].iter().map(|&v| v.into()).sum::<u32>() as f32;
                }
            }
        }
    } else {
        for (j, &(c0, c1)) in columns.spans.iter().enumerate() {
            let mut totals = [0u32; 4];
            for pixel in acc[c0 * channels..c1 * channels].chunks_exact(channels) {
                for (t, &v) in totals.iter_mut().zip(pixel) {
                    *t += v.into();
                }
            }
            for (plane, &t) in out.iter_mut().zip(&totals).take(channels) {
                plane[offset + j] = t as f32;
            }
        }
    }
    for plane in out.iter_mut().take(channels) {
        divide_cells(&mut plane[offset..offset + n], &columns.widths, rows as f32);
    }
}

/// Each cell's total over its pixel count, as one vectorised loop of exact
/// IEEE divisions (the same bits as dividing cell by cell: the counts are
/// small integers, exact in `f32`).
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn divide_cells(cells: &mut [f32], widths: &[f32], rows: f32) {
    for (cell, &width) in cells.iter_mut().zip(widths) {
        *cell /= rows * width;
    }
}

/// `acc += row`, element-wise; compiled for AVX2 too, chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn add_row(acc: &mut [u32], row: &[u8]) {
    for (a, &p) in acc.iter_mut().zip(row) {
        *a += u32::from(p);
    }
}

/// [`add_row`] into 16-bit sums, which [`BandSums`] keeps from overflowing.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn add_row_u16(acc: &mut [u16], row: &[u8]) {
    for (a, &p) in acc.iter_mut().zip(row) {
        *a += u16::from(p);
    }
}

/// [`add_row`], returning the row's sum.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn add_row_and_sum(acc: &mut [u32], row: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (a, &p) in acc.iter_mut().zip(row) {
        *a += u32::from(p);
        sum += u32::from(p);
    }
    sum
}

/// [`add_row_u16`], returning the row's sum.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn add_row_and_sum_u16(acc: &mut [u16], row: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (a, &p) in acc.iter_mut().zip(row) {
        *a += u16::from(p);
        sum += u32::from(p);
    }
    sum
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

fn lanczos3(x: f64) -> f64 {
    if x.abs() < 3.0 {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Per-output (first source index, normalised weights), the way Pillow
/// builds its convolution resampling coefficients: the filter is stretched by
/// the scale when downscaling so it also antialiases.
fn lanczos_coefficients(src: usize, out: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = src as f64 / out as f64;
    let filter_scale = scale.max(1.0);
    let support = 3.0 * filter_scale;
    (0..out)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(src).max(lo + 1);
            let mut weights: Vec<f64> = (lo..hi)
                .map(|x| lanczos3((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            (lo, weights)
        })
        .collect()
}

type Coefficients = Rc<Vec<(usize, Vec<f64>)>>;

thread_local! {
    // Every frame of a video has the same size, so the (src, out) pairs repeat;
    // caching skips thousands of sin() calls per frame.
    static COEFFICIENTS: RefCell<HashMap<(usize, usize), Coefficients>> = RefCell::new(HashMap::new());
}

fn cached_coefficients(src: usize, out: usize) -> Coefficients {
    COEFFICIENTS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.len() > 64 {
            cache.clear();
        }
        Rc::clone(
            cache
                .entry((src, out))
                .or_insert_with(|| Rc::new(lanczos_coefficients(src, out))),
        )
    })
}

/// Lanczos-3 resample of a float plane to `ow x oh`, horizontal pass first
/// (as Pillow does), rounded and clamped to 8-bit levels like a Pillow `L` image.
#[must_use]
pub fn lanczos_resize(src: &[f32], sw: usize, sh: usize, ow: usize, oh: usize) -> Vec<f64> {
    lanczos_resize_transposed(&transpose(src, sw, sh), sw, sh, ow, oh)
}

/// The `sw x sh` plane `src` as `f64`, column by column (`sh` values per column).
#[must_use]
pub(crate) fn transpose(src: &[f32], sw: usize, sh: usize) -> Vec<f64> {
    // In tiles, so the strided writes stay within a few cache lines.
    const TILE: usize = 8;
    let mut columns = vec![0.0f64; sw * sh];
    for y0 in (0..sh).step_by(TILE) {
        for x0 in (0..sw).step_by(TILE) {
            for y in y0..(y0 + TILE).min(sh) {
                for x in x0..(x0 + TILE).min(sw) {
                    columns[x * sh + y] = f64::from(src[y * sw + x]);
                }
            }
        }
    }
    columns
}

/// [`lanczos_resize`] of a plane already [`transpose`]d. The horizontal pass
/// runs on the columns, so that both passes add whole rows, weight by
/// weight: each output still sums its taps in order (the same bits as a dot
/// product per pixel), but a row at a time vectorises where a chain of
/// dependent adds per pixel cannot.
#[must_use]
pub(crate) fn lanczos_resize_transposed(columns: &[f64], sw: usize, sh: usize, ow: usize, oh: usize) -> Vec<f64> {
    let horizontal = cached_coefficients(sw, ow);
    let vertical = cached_coefficients(sh, oh);
    let filtered = convolve_rows(columns, sh, &horizontal);
    let mut tmp = vec![0.0f64; ow * sh];
    for (x, column) in filtered.chunks_exact(sh).enumerate() {
        for (y, &v) in column.iter().enumerate() {
            tmp[y * ow + x] = v;
        }
    }
    convolve_rows(&tmp, ow, &vertical)
}

/// Output row `i` is the sum of `src`'s rows `lo..` weighted by taps `i`,
/// rounded and clamped to 8-bit levels.
fn convolve_rows(src: &[f64], width: usize, taps: &[(usize, Vec<f64>)]) -> Vec<f64> {
    let mut out = vec![0.0f64; width * taps.len()];
    for (dst, (lo, weights)) in out.chunks_exact_mut(width).zip(taps) {
        for (k, &w) in weights.iter().enumerate() {
            add_scaled(dst, &src[(lo + k) * width..(lo + k + 1) * width], w);
        }
        round_to_levels(dst);
    }
    out
}

#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn add_scaled(dst: &mut [f64], src: &[f64], w: f64) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += w * s;
    }
}

/// Round half up and clamp to 0..=255. The value truncated is at least 0.5,
/// where truncating is flooring; unlike `floor` (a libm call) it vectorises.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn round_to_levels(values: &mut [f64]) {
    for v in values {
        *v = f64::from((v.clamp(0.0, 255.0) + 0.5) as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_pass_equals_the_two_it_replaces() {
        // Sizes whose grid divides them, and ones whose bands differ in
        // height; then bands of 257 white rows (the most 16-bit sums hold)
        // and of 300 (the 32-bit path).
        let grids = [(64, 36), (97, 53), (1, 1), (5, 300), (300, 5)].map(|(w, h)| (w, h, grid_size(w, h)));
        for (w, h, (gw, gh)) in grids.into_iter().chain([(40, 514, (5, 2)), (40, 600, (5, 2))]) {
            let src: Vec<u8> = if h > 500 {
                vec![255; w * h * 3]
            } else {
                (0..w * h * 3).map(|i| ((i * 7919 + i / 5) % 256) as u8).collect()
            };
            let mut planes = vec![Vec::new(), Vec::new(), Vec::new()];
            box_reduce(&src, w, h, 3, gw, gh, &mut planes);
            let mut gray = Vec::new();
            crate::luma::rgb_to_gray(&src, &mut gray);
            let mut fused_planes = vec![Vec::new(), Vec::new(), Vec::new()];
            let mut fused_gray = vec![9u8; 3];
            box_reduce_rgb_and_gray(&src, w, h, gw, gh, &mut fused_planes, &mut fused_gray);
            assert_eq!(fused_planes, planes, "{w}x{h}");
            assert_eq!(fused_gray, gray, "{w}x{h}");
        }
    }

    #[test]
    fn box_reduce_averages_blocks() {
        // 4x2 gray, reduced to 2x1: means of the two 2x2 blocks.
        let src = [0u8, 10, 20, 30, 40, 50, 60, 70];
        let mut out = vec![Vec::new()];
        box_reduce(&src, 4, 2, 1, 2, 1, &mut out);
        assert_eq!(out[0], vec![25.0, 45.0]);
    }

    #[test]
    fn box_reduce_covers_odd_remainders_and_upscales() {
        let src: Vec<u8> = (0..15).collect();
        let mut out = vec![Vec::new()];
        box_reduce(&src, 5, 3, 1, 2, 1, &mut out);
        // Columns 0..2 and 2..5 over all rows.
        assert_eq!(out[0], vec![5.5, 8.0]);
        box_reduce(&[9], 1, 1, 1, 2, 2, &mut out);
        assert_eq!(out[0], vec![9.0; 4]);
    }

    #[test]
    fn lanczos_keeps_flat_images_flat() {
        let src = vec![77.0f32; 50 * 30];
        let out = lanczos_resize(&src, 50, 30, 9, 8);
        assert!(out.iter().all(|&v| (v - 77.0).abs() < 1e-9));
    }
}
