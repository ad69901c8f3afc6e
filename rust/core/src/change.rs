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
