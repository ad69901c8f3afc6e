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
pub fn box_reduce(src: &[u8], sw: usize, sh: usize, channels: usize, ow: usize, oh: usize, out: &mut [Vec<f32>]) {
    debug_assert_eq!(src.len(), sw * sh * channels);
    let row_len = sw * channels;
    box_reduce_rows(|y| &src[y * row_len..(y + 1) * row_len], sw, sh, channels, ow, oh, out);
}

/// [`box_reduce`] of packed RGB to the grid, and its gray (OpenCV's
/// `RGB2GRAY`, [`crate::luma::rgb_to_gray`]) into `gray`, in one pass: each
/// row is converted while it is still in cache from the reduction, instead of
/// the frame being read from memory twice.
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
    let row_len = sw * 3;
    let mut converted = 0;
    box_reduce_rows(
        |y| {
            let row = &src[y * row_len..(y + 1) * row_len];
            // Rows come in order, each once, when the grid is no taller than the frame.
            if y == converted {
                crate::luma::rgb_row_to_gray(row, &mut gray[y * sw..(y + 1) * sw]);
                converted += 1;
            }
            row
        },
        sw,
        sh,
        3,
        ow,
        oh,
        out,
    );
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
    let mut acc = vec![0u32; sw * channels];
    let column_spans: Vec<(usize, usize)> = (0..ow).map(|j| span(j, sw, ow)).collect();
    for i in 0..oh {
        let (r0, r1) = span(i, sh, oh);
        acc.iter_mut().for_each(|a| *a = 0);
        for y in r0..r1 {
            add_row(&mut acc, row(y));
        }
        reduce_band(&acc, r1 - r0, channels, &column_spans, i * ow, out);
    }
}

/// Average an accumulated band of `rows` rows into output row starting at `offset`.
pub(crate) fn reduce_band(
    acc: &[u32],
    rows: usize,
    channels: usize,
    column_spans: &[(usize, usize)],
    offset: usize,
    out: &mut [Vec<f32>],
) {
    for (j, &(c0, c1)) in column_spans.iter().enumerate() {
        let count = (rows * (c1 - c0)) as f32;
        for (c, plane) in out.iter_mut().enumerate().take(channels) {
            let total: u32 = (c0..c1).map(|x| acc[x * channels + c]).sum();
            plane[offset + j] = total as f32 / count;
        }
    }
}

/// `acc += row`, element-wise; compiled for AVX2 too, chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
pub(crate) fn add_row(acc: &mut [u32], row: &[u8]) {
    for (a, &p) in acc.iter_mut().zip(row) {
        *a += u32::from(p);
    }
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
    let horizontal = cached_coefficients(sw, ow);
    let vertical = cached_coefficients(sh, oh);
    let round8 = |v: f64| (v.clamp(0.0, 255.0) + 0.5).floor();
    let mut tmp = vec![0.0f64; ow * sh];
    for y in 0..sh {
        let row = &src[y * sw..(y + 1) * sw];
        for (x, (lo, w)) in horizontal.iter().enumerate() {
            let v: f64 = w.iter().zip(&row[*lo..]).map(|(w, &p)| w * f64::from(p)).sum();
            tmp[y * ow + x] = round8(v);
        }
    }
    let mut out = vec![0.0f64; ow * oh];
    for (y, (lo, w)) in vertical.iter().enumerate() {
        let dst = &mut out[y * ow..(y + 1) * ow];
        for (k, w) in w.iter().enumerate() {
            let src_row = &tmp[(lo + k) * ow..(lo + k + 1) * ow];
            for (d, &s) in dst.iter_mut().zip(src_row) {
                *d += w * s;
            }
        }
        dst.iter_mut().for_each(|d| *d = round8(*d));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_pass_equals_the_two_it_replaces() {
        // Sizes whose grid divides them, and ones whose bands differ in height.
        for (w, h) in [(64, 36), (97, 53), (1, 1), (5, 300), (300, 5)] {
            let src: Vec<u8> = (0..w * h * 3).map(|i| ((i * 7919 + i / 5) % 256) as u8).collect();
            let (gw, gh) = grid_size(w, h);
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
