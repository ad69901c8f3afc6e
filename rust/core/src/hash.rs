//! Perceptual hashes with the definitions of the `imagehash` package (4.3).
//!
//! Both take a gray plane (Pillow `L` levels, as floats), resample it with
//! Lanczos like Pillow's `resize(..., LANCZOS)` and pack 64 bits row-major,
//! first bit most significant, so `format!("{:016x}", h)` equals
//! `str(imagehash.dhash(img))` up to resampling differences.

use std::sync::OnceLock;

use crate::resize::{lanczos_resize_transposed, transpose};

fn pack(bits: impl Iterator<Item = bool>) -> u64 {
    bits.fold(0u64, |acc, b| (acc << 1) | u64::from(b))
}

/// Difference hash: resize to 9x8, bit = pixel < its right neighbour
/// (imagehash's `pixels[:, 1:] > pixels[:, :-1]`).
#[must_use]
pub fn dhash(gray: &[f32], width: usize, height: usize) -> u64 {
    dhash_of_columns(&transpose(gray, width, height), width, height)
}

/// [`dhash`] and [`phash`] of one plane, which share its transposition.
#[must_use]
pub fn hashes(gray: &[f32], width: usize, height: usize) -> (u64, u64) {
    let columns = transpose(gray, width, height);
    (
        dhash_of_columns(&columns, width, height),
        phash_of_columns(&columns, width, height),
    )
}

fn dhash_of_columns(columns: &[f64], width: usize, height: usize) -> u64 {
    let p = lanczos_resize_transposed(columns, width, height, 9, 8);
    pack((0..8).flat_map(|r| {
        let row = &p[r * 9..(r + 1) * 9];
        (0..8).map(move |c| row[c + 1] > row[c])
    }))
}

/// Basis rows `2 cos(pi k (2n + 1) / 2N)` of SciPy's unnormalised DCT-II,
/// for the 8 lowest frequencies of a 32-point signal.
fn dct_basis() -> &'static [[f64; 32]; 8] {
    static BASIS: OnceLock<[[f64; 32]; 8]> = OnceLock::new();
    BASIS.get_or_init(|| {
        let mut basis = [[0.0; 32]; 8];
        for (k, row) in basis.iter_mut().enumerate() {
            for (n, b) in row.iter_mut().enumerate() {
                *b = 2.0 * (std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / 64.0).cos();
            }
        }
        basis
    })
}

/// Perceptual hash: resize to 32x32, 2-D DCT-II, keep the top-left 8x8
/// coefficients, bit = coefficient > their median.
#[must_use]
pub fn phash(gray: &[f32], width: usize, height: usize) -> u64 {
    phash_of_columns(&transpose(gray, width, height), width, height)
}

fn phash_of_columns(columns: &[f64], width: usize, height: usize) -> u64 {
    let p = lanczos_resize_transposed(columns, width, height, 32, 32);
    let basis = dct_basis();
    // Columns first (axis 0), then rows (axis 1), as imagehash calls SciPy.
    let mut vertical = [[0.0f64; 32]; 8];
    for (k, out_row) in vertical.iter_mut().enumerate() {
        for (m, &b) in basis[k].iter().enumerate() {
            let row = &p[m * 32..(m + 1) * 32];
            for (o, &v) in out_row.iter_mut().zip(row) {
                *o += b * v;
            }
        }
    }
    let mut low = [0.0f64; 64];
    for k in 0..8 {
        for l in 0..8 {
            low[k * 8 + l] = vertical[k].iter().zip(&basis[l]).map(|(a, b)| a * b).sum();
        }
    }
    let mut sorted = low;
    sorted.sort_by(f64::total_cmp);
    let median = 0.5 * (sorted[31] + sorted[32]);
    pack(low.iter().map(|&c| c > median))
}

/// Number of differing bits.
///
/// # Example
/// ```
/// assert_eq!(thumbsel_core::hash::hamming(0b1011, 0b0001), 2);
/// ```
#[must_use]
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizontal_ramp_sets_every_dhash_bit() {
        let (w, h) = (90, 40);
        let gray: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 * 2.5).collect();
        assert_eq!(dhash(&gray, w, h), u64::MAX);
        let reversed: Vec<f32> = (0..w * h).map(|i| 250.0 - (i % w) as f32 * 2.5).collect();
        assert_eq!(dhash(&reversed, w, h), 0);
    }

    #[test]
    fn phash_is_stable_under_brightness_shift_and_differs_for_other_content() {
        let (w, h) = (64, 64);
        let pattern: Vec<f32> = (0..w * h)
            .map(|i| if (i % w) < 20 || (i / w) > 40 { 200.0 } else { 30.0 })
            .collect();
        let brighter: Vec<f32> = pattern.iter().map(|v| v + 20.0).collect();
        let other: Vec<f32> = (0..w * h).map(|i| if (i % w) > 44 { 200.0 } else { 30.0 }).collect();
        let a = phash(&pattern, w, h);
        assert!(hamming(a, phash(&brighter, w, h)) <= 2);
        assert!(hamming(a, phash(&other, w, h)) >= 10);
    }
}
