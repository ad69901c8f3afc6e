//! Deterministic synthetic frames shared by the unit tests.

use crate::frame::{chroma_size, Yuv420Frame};

/// Pseudo-random bytes (a 64-bit LCG, top byte): the same for the same seed.
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// A plane with a smooth ramp and some texture, in the limited range
/// 16..=235 like real video, different for every seed.
pub(crate) fn textured(width: usize, height: usize, seed: u64) -> Vec<u8> {
    noise(width * height, seed)
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let (x, y) = (i % width, i / width);
            let ramp = 16 + (x * 150 / width + y * 40 / height) + (seed as usize % 7) * 4;
            (ramp + usize::from(n >> 3)).min(235) as u8
        })
        .collect()
}

/// Packed planes of a 4:2:0 frame.
pub(crate) struct YuvPlanes {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl YuvPlanes {
    pub fn textured(width: usize, height: usize, seed: u64) -> Self {
        let (cw, ch) = chroma_size(width, height);
        Self {
            width,
            height,
            y: textured(width, height, seed),
            u: textured(cw, ch, seed.wrapping_add(1000)),
            v: textured(cw, ch, seed.wrapping_add(2000)),
        }
    }

    pub fn frame(&self) -> Yuv420Frame<'_> {
        Yuv420Frame::new(&self.y, &self.u, &self.v, self.width, self.height).expect("planes of the right size")
    }
}
