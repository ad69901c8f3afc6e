//! The per-frame feature set: one full-resolution pass over luma, the rest
//! on a small analysis grid (see [`crate::resize::grid_size`]).

use std::cell::RefCell;

use crate::change::FrameSignature;
use crate::color::{color_histogram, color_stats, Grid, HISTOGRAM_BINS};
use crate::composition::{composition, Composition};
use crate::edges::{gradient_magnitudes, gradient_stats_of};
use crate::frame::{ColorRange, ColorSpec, Plane, RgbFrame, Yuv420Frame};
use crate::hash::hashes;
use crate::luma::{self, Bars};
use crate::resize::{box_reduce_plane, box_reduce_rgb_and_gray, grid_size};

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
    let (d, p) = hashes(&grid.gray, grid.width, grid.height);
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
        dhash: d,
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
        scratch.planes.resize_with(3, Vec::new);
        box_reduce_rgb_and_gray(
            frame.data(),
            w,
            h,
            gw,
            gh,
            &mut scratch.planes[0..3],
            &mut scratch.gray_full,
        );
        let mut unused_grid = Vec::new();
        let gray = Plane::packed("gray", &scratch.gray_full, w, h).expect("gray has w*h pixels");
        let scan = luma::scan(&gray, 1, 1, &mut unused_grid);
        let stats = luma::stats(&scan.histogram, ColorRange::Full);
        let bars = luma::bars(&scan, w, h, ColorRange::Full);
        let sharpness = scan.laplacian.variance();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{chroma_size, Matrix};
    use crate::luma::to_full_range;
    use crate::testing::textured;

    const LIMITED: ColorSpec = ColorSpec {
        range: ColorRange::Limited,
        matrix: Matrix::Bt709,
    };

    fn rgb_of_gray(gray: &[u8]) -> Vec<u8> {
        gray.iter().flat_map(|&g| [g, g, g]).collect()
    }

    /// A one-pixel checkerboard of levels `a` (where x + y is even) and `b`.
    fn checkerboard(width: usize, height: usize, a: u8, b: u8) -> Vec<u8> {
        (0..width * height)
            .map(|i| {
                if (i % width + i / width).is_multiple_of(2) {
                    a
                } else {
                    b
                }
            })
            .collect()
    }

    fn yuv(luma: &[u8], width: usize, height: usize, spec: ColorSpec) -> FrameFeatures {
        let (cw, ch) = chroma_size(width, height);
        let neutral = vec![128u8; cw * ch];
        let frame = Yuv420Frame::new(luma, &neutral, &neutral, width, height).unwrap();
        yuv420_features(&frame, spec).0
    }

    fn rgb(data: &[u8], width: usize, height: usize) -> FrameFeatures {
        rgb_features(&RgbFrame::new(data, width, height).unwrap()).0
    }

    #[test]
    fn a_flat_gray_frame_has_no_detail() {
        let (w, h) = (20, 12);
        let from_rgb = rgb(&vec![128; w * h * 3], w, h);
        // Limited-range code 126 is full-range level 128.
        let from_yuv = yuv(&vec![126; w * h], w, h, LIMITED);
        for f in [&from_rgb, &from_yuv] {
            assert_eq!((f.sharpness, f.contrast, f.entropy), (0.0, 0.0, 0.0), "{f:?}");
            assert_eq!((f.gradient_energy, f.edge_density), (0.0, 0.0));
            assert_eq!((f.dark_fraction, f.bright_fraction), (0.0, 0.0));
            assert!((f.brightness - 128.0 / 255.0).abs() < 1e-12);
            assert!(f.saturation.abs() < 1e-6 && f.colorfulness.abs() < 1e-3, "{f:?}");
            assert_eq!(f.bars, Bars::default());
            assert!((f.histogram.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert_eq!(from_rgb.mean_rgb, [128.0 / 255.0; 3]);
        // Level 128 falls in the third of four levels per channel: bin 16*2 + 4*2 + 2.
        assert_eq!(from_rgb.histogram[42], 1.0);
    }

    #[test]
    fn checkerboard_sharpness_matches_a_hand_computation() {
        // Every pixel's four neighbours have the other level, at the borders
        // too (reflect-101), so the Laplacian is +-4 (b - a) = +-400.
        let even = rgb(&rgb_of_gray(&checkerboard(8, 6, 50, 150)), 8, 6);
        assert_eq!(even.sharpness, 400.0 * 400.0);
        // 5x5: 13 pixels at +400 and 12 at -400, mean 16, so the
        // variance is 400^2 - 16^2.
        let odd = rgb(&rgb_of_gray(&checkerboard(5, 5, 50, 150)), 5, 5);
        assert_eq!(odd.sharpness, 159_744.0);
        // Limited-range black and white are 219 codes apart, stretched to 255 levels.
        let video = yuv(&checkerboard(8, 6, 16, 235), 8, 6, LIMITED);
        let expected = (4.0 * 255.0f64).powi(2);
        assert!(
            (video.sharpness - expected).abs() < 1e-9 * expected,
            "{}",
            video.sharpness
        );
    }

    #[test]
    fn limited_range_luma_reads_as_the_equivalent_full_range_frame() {
        let (w, h) = (33, 21);
        let codes = textured(w, h, 11);
        let levels: Vec<u8> = codes.iter().map(|&c| to_full_range(c, ColorRange::Limited)).collect();
        let video = yuv(&codes, w, h, LIMITED);
        let picture = rgb(&rgb_of_gray(&levels), w, h);
        assert!(video.brightness > 0.2 && video.contrast > 0.05, "{video:?}");
        assert_eq!(video.brightness, picture.brightness);
        assert_eq!(video.contrast, picture.contrast);
        assert_eq!(video.entropy, picture.entropy);
        assert_eq!(video.dark_fraction, picture.dark_fraction);
        assert_eq!(video.bright_fraction, picture.bright_fraction);
        // The grid averages codes before mapping them, the RGB path after
        // rounding, so the colours agree to within rounding only.
        for (a, b) in video.mean_rgb.iter().zip(picture.mean_rgb) {
            assert!(
                (a - b).abs() < 1.0 / 255.0,
                "{:?} vs {:?}",
                video.mean_rgb,
                picture.mean_rgb
            );
        }
        // Read as full range, the same codes are levels already.
        let full_range = ColorSpec {
            range: ColorRange::Full,
            matrix: Matrix::Bt709,
        };
        let full = yuv(&codes, w, h, full_range);
        assert_eq!(full.brightness, rgb(&rgb_of_gray(&codes), w, h).brightness);
        assert_ne!(full.brightness, video.brightness);
    }
}
