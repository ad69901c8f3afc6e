//! Frame-to-frame change signals: what shot detection and stillness need.

use crate::color::{hsv_u8, to_level, Grid, HISTOGRAM_BINS};
use crate::hash::hamming;

/// What a frame leaves behind for comparison with the next one.
#[derive(Debug, Clone)]
pub struct FrameSignature {
    pub width: usize,
    pub height: usize,
    /// OpenCV-scaled HSV of the analysis grid, planar (H, then S, then V).
    hsv: Vec<u8>,
    /// Gray levels of the analysis grid.
    gray: Vec<u8>,
    histogram: [f32; HISTOGRAM_BINS],
    phash: u64,
}

impl FrameSignature {
    /// Capture a grid's comparison data.
    #[must_use]
    pub fn new(grid: &Grid, histogram: [f32; HISTOGRAM_BINS], phash: u64) -> Self {
        let n = grid.red.len();
        let mut hsv = vec![0u8; 3 * n];
        for i in 0..n {
            let [h, s, v] = hsv_u8(grid.red[i], grid.green[i], grid.blue[i]);
            hsv[i] = h;
            hsv[n + i] = s;
            hsv[2 * n + i] = v;
        }
        let gray = grid.gray.iter().map(|&g| to_level(g)).collect();
        Self {
            width: grid.width,
            height: grid.height,
            hsv,
            gray,
            histogram,
            phash,
        }
    }
}

/// How much a frame differs from the one before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameChange {
    /// Mean absolute difference of H, S and V averaged over the three channels,
    /// on OpenCV's 8-bit HSV scale (PySceneDetect ContentDetector's score; its
    /// default cut threshold is 27). `NaN` when the frame size changed.
    pub cut_score: f64,
    /// Total-variation distance of the colour histograms, 0..=1.
    pub histogram_distance: f64,
    /// Hamming distance of the pHashes, 0..=64.
    pub hash_distance: f64,
    /// Mean absolute difference of grid gray levels, 0..=1. `NaN` when the size changed.
    pub motion: f64,
}

fn mean_abs_difference(a: &[u8], b: &[u8]) -> f64 {
    let total: u64 = a.iter().zip(b).map(|(&x, &y)| u64::from(x.abs_diff(y))).sum();
    total as f64 / a.len().max(1) as f64
}

/// Compare two consecutive frames.
#[must_use]
pub fn frame_change(previous: &FrameSignature, current: &FrameSignature) -> FrameChange {
    let histogram_distance = 0.5
        * previous
            .histogram
            .iter()
            .zip(&current.histogram)
            .map(|(a, b)| f64::from((a - b).abs()))
            .sum::<f64>();
    let hash_distance = f64::from(hamming(previous.phash, current.phash));
    if previous.width != current.width || previous.height != current.height {
        return FrameChange {
            cut_score: f64::NAN,
            histogram_distance,
            hash_distance,
            motion: f64::NAN,
        };
    }
    let n = previous.gray.len();
    let channel = |c: usize| mean_abs_difference(&previous.hsv[c * n..(c + 1) * n], &current.hsv[c * n..(c + 1) * n]);
    FrameChange {
        cut_score: (channel(0) + channel(1) + channel(2)) / 3.0,
        histogram_distance,
        hash_distance,
        motion: mean_abs_difference(&previous.gray, &current.gray) / 255.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::color_histogram;
    use crate::hash::phash;
    use crate::testing::noise;

    fn grid(width: usize, height: usize, pixels: &[[f32; 3]]) -> Grid {
        let mut grid = Grid {
            width,
            height,
            red: pixels.iter().map(|p| p[0]).collect(),
            green: pixels.iter().map(|p| p[1]).collect(),
            blue: pixels.iter().map(|p| p[2]).collect(),
            gray: Vec::new(),
        };
        grid.update_gray();
        grid
    }

    fn signature(grid: &Grid) -> FrameSignature {
        FrameSignature::new(grid, color_histogram(grid), phash(&grid.gray, grid.width, grid.height))
    }

    fn flat(width: usize, height: usize, level: f32) -> Grid {
        grid(width, height, &vec![[level; 3]; width * height])
    }

    #[test]
    fn identical_frames_do_not_change() {
        let bytes = noise(24 * 16 * 3, 5);
        let pixels: Vec<[f32; 3]> = bytes
            .chunks_exact(3)
            .map(|p| [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])])
            .collect();
        let textured = signature(&grid(24, 16, &pixels));
        let change = frame_change(&textured, &textured.clone());
        assert_eq!(
            change,
            FrameChange {
                cut_score: 0.0,
                histogram_distance: 0.0,
                hash_distance: 0.0,
                motion: 0.0,
            }
        );
    }

    #[test]
    fn black_to_white_is_the_largest_change() {
        let black = signature(&flat(16, 16, 0.0));
        let white = signature(&flat(16, 16, 255.0));
        let change = frame_change(&black, &white);
        // All the mass moves from bin 0 to bin 63.
        assert_eq!(change.histogram_distance, 1.0);
        assert_eq!(change.hash_distance, f64::from(hamming(black.phash, white.phash)));
        // Only V moves, by the whole scale: 255 / 3 channels.
        assert_eq!(change.cut_score, 85.0);
        assert_eq!(change.motion, 1.0);
        assert_eq!(frame_change(&white, &black), change);
    }

    #[test]
    fn known_small_changes() {
        // Gray 100 vs half 100, half 200, on a 2x1 grid.
        let before = FrameSignature::new(&flat(2, 1, 100.0), color_histogram(&flat(2, 1, 100.0)), 0b1011);
        let half = grid(2, 1, &[[100.0; 3], [200.0; 3]]);
        let after = FrameSignature::new(&half, color_histogram(&half), 0b0001);
        let change = frame_change(&before, &after);
        assert_eq!(change.motion, 50.0 / 255.0);
        assert_eq!(change.cut_score, 50.0 / 3.0);
        // Half the pixels move from bin 21 (levels 64..128) to bin 63.
        assert_eq!(change.histogram_distance, 0.5);
        assert_eq!(change.hash_distance, 2.0);

        // Pure red to pure green: OpenCV hue 0 to 60, saturation and value unchanged.
        let red = signature(&grid(1, 1, &[[255.0, 0.0, 0.0]]));
        let green = signature(&grid(1, 1, &[[0.0, 255.0, 0.0]]));
        let change = frame_change(&red, &green);
        assert_eq!(change.cut_score, 20.0);
        assert_eq!(change.histogram_distance, 1.0);
    }

    #[test]
    fn a_size_change_has_no_pixel_differences() {
        let small = signature(&flat(2, 1, 100.0));
        let large = signature(&flat(3, 2, 100.0));
        let change = frame_change(&small, &large);
        assert!(change.cut_score.is_nan() && change.motion.is_nan());
        assert_eq!(change.histogram_distance, 0.0);
        assert_eq!(change.hash_distance, f64::from(hamming(small.phash, large.phash)));
    }
}
