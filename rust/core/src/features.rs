//! The per-frame feature set: one full-resolution pass over luma, the rest
//! on a small analysis grid (see [`crate::resize::grid_size`]).

use std::cell::RefCell;

use crate::change::FrameSignature;
use crate::color::{color_histogram, color_stats, Grid, HISTOGRAM_BINS};
use crate::composition::{composition, Composition};
use crate::edges::{gradient_magnitudes, gradient_stats_of};
use crate::frame::{ColorRange, ColorSpec, Plane, RgbFrame, Yuv420Frame};
use crate::hash::{dhash, phash};
use crate::luma::{self, Bars};
use crate::resize::{box_reduce, box_reduce_plane, grid_size};

/// Everything measured on one frame by itself.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameFeatures {
    /// Mean full-range luma, 0..=1.
    pub brightness: f64,
    /// Standard deviation of full-range luma, 0..=1.
    pub contrast: f64,
    /// Fraction of pixels at or below [`luma::NEAR_BLACK_LEVEL`].
    pub dark_fraction: f64,
    /// Fraction of pixels at or above [`luma::NEAR_WHITE_LEVEL`].
    pub bright_fraction: f64,
    /// Shannon entropy of the full-range luma histogram, bits (0..=8).
    pub entropy: f64,
    /// Variance of the Laplacian of full-resolution luma (OpenCV's focus
    /// measure), on the full-range scale.
    pub sharpness: f64,
    /// Mean Sobel gradient magnitude on the analysis grid, 0..=1.
    pub gradient_energy: f64,
    /// Fraction of edge pixels on the analysis grid.
    pub edge_density: f64,
    /// Hasler–Süsstrunk colourfulness (0..=255 scale; above ~30 looks colourful).
    pub colorfulness: f64,
    /// Mean HSV saturation, 0..=1.
    pub saturation: f64,
    /// Mean red, green and blue of the analysis grid, 0..=1.
    pub mean_rgb: [f64; 3],
    /// 64-bit difference hash (imagehash `dhash`).
    pub dhash: u64,
    /// 64-bit perceptual hash (imagehash `phash`).
    pub phash: u64,
    /// Normalised 4x4x4 RGB histogram.
    pub histogram: [f32; HISTOGRAM_BINS],
    /// Black bars in full-resolution pixels.
    pub bars: Bars,
    /// Where the picture's weight sits and how it is framed.
    pub composition: Composition,
}

/// Reused buffers, one set per worker thread, so the hot loop does not allocate.
#[derive(Default)]
struct Scratch {
    gray_full: Vec<u8>,
    planes: Vec<Vec<f32>>,
    grid: Grid,
    magnitudes: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn grid_features(
    grid: &Grid,
    stats: luma::LumaStats,
    sharpness: f64,
    bars: Bars,
    magnitudes: &[f32],
    framing: Composition,
) -> (FrameFeatures, FrameSignature) {
    let colors = color_stats(grid);
    let gradients = gradient_stats_of(magnitudes);
    let histogram = color_histogram(grid);
    let p = phash(&grid.gray, grid.width, grid.height);
    let features = FrameFeatures {
        brightness: stats.brightness,
        contrast: stats.contrast,
        dark_fraction: stats.dark_fraction,
        bright_fraction: stats.bright_fraction,
        entropy: stats.entropy,
        sharpness,
        gradient_energy: gradients.gradient_energy,
        edge_density: gradients.edge_density,
        colorfulness: colors.colorfulness,
        saturation: colors.saturation,
        mean_rgb: colors.mean_rgb,
        dhash: dhash(&grid.gray, grid.width, grid.height),
        phash: p,
        histogram,
        bars,
        composition: framing,
    };
    let signature = FrameSignature::new(grid, histogram, p);
    (features, signature)
}

/// Features of a 4:2:0 frame, read straight from its planes.
#[must_use]
pub fn yuv420_features(frame: &Yuv420Frame<'_>, spec: ColorSpec) -> (FrameFeatures, FrameSignature) {
    let (w, h) = (frame.width(), frame.height());
    let gain = luma::range_gain(spec.range);
    let (gw, gh) = grid_size(w, h);
    SCRATCH.with(|cell| {
        let scratch = &mut *cell.borrow_mut();
        scratch.planes.resize_with(3, Vec::new);
        let scan = luma::scan(&frame.luma(), gw, gh, &mut scratch.planes[0]);
        let sharpness = scan.laplacian.variance() * gain * gain;
        let stats = luma::stats(&scan.histogram, spec.range);
        let bars = luma::bars(&scan, w, h, spec.range);
        box_reduce_plane(&frame.cb(), gw, gh, &mut scratch.planes[1]);
        box_reduce_plane(&frame.cr(), gw, gh, &mut scratch.planes[2]);
        let grid = &mut scratch.grid;
        grid.width = gw;
        grid.height = gh;
        grid.set_from_ycbcr(&scratch.planes[0], &scratch.planes[1], &scratch.planes[2], spec);
        gradient_magnitudes(&grid.gray, gw, gh, &mut scratch.magnitudes);
        let framing = composition(grid, &scratch.magnitudes, bars, (w, h), &scan.sharpness_blocks);
        grid_features(grid, stats, sharpness, bars, &scratch.magnitudes, framing)
    })
}

/// Features of an RGB frame. Luma statistics use OpenCV's gray conversion.
#[must_use]
pub fn rgb_features(frame: &RgbFrame<'_>) -> (FrameFeatures, FrameSignature) {
    let (w, h) = (frame.width(), frame.height());
    let (gw, gh) = grid_size(w, h);
    SCRATCH.with(|cell| {
        let scratch = &mut *cell.borrow_mut();
        luma::rgb_to_gray(frame.data(), &mut scratch.gray_full);
        let mut unused_grid = Vec::new();
        let gray = Plane::packed("gray", &scratch.gray_full, w, h).expect("gray has w*h pixels");
        let scan = luma::scan(&gray, 1, 1, &mut unused_grid);
        let stats = luma::stats(&scan.histogram, ColorRange::Full);
        let bars = luma::bars(&scan, w, h, ColorRange::Full);
        let sharpness = scan.laplacian.variance();
        scratch.planes.resize_with(3, Vec::new);
        box_reduce(frame.data(), w, h, 3, gw, gh, &mut scratch.planes[0..3]);
        let grid = &mut scratch.grid;
        grid.width = gw;
        grid.height = gh;
        grid.red.clone_from(&scratch.planes[0]);
        grid.green.clone_from(&scratch.planes[1]);
        grid.blue.clone_from(&scratch.planes[2]);
        grid.update_gray();
        gradient_magnitudes(&grid.gray, gw, gh, &mut scratch.magnitudes);
        let framing = composition(grid, &scratch.magnitudes, bars, (w, h), &scan.sharpness_blocks);
        grid_features(grid, stats, sharpness, bars, &scratch.magnitudes, framing)
    })
}
