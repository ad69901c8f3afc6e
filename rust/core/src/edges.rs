//! Gradient measures on the analysis grid's gray plane.

/// Gradient magnitude (0..=1 scale) above which a grid pixel counts as an edge.
pub const EDGE_THRESHOLD: f32 = 0.1;

/// Gradient statistics of a gray plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientStats {
    /// Mean Sobel gradient magnitude divided by 4 x 255: the intensity step
    /// across a pixel on a 0..=1 scale (1.0 for a black-to-white edge). This
    /// is hecate's kind of measure; it is taken on the analysis grid.
    pub gradient_energy: f64,
    /// Fraction of pixels whose gradient magnitude exceeds [`EDGE_THRESHOLD`].
    pub edge_density: f64,
}

/// Sobel gradient magnitude of every pixel (replicated borders), divided by
/// 4 x 255 so a black-to-white step is 1.0, written into `out`.
pub fn gradient_magnitudes(gray: &[f32], width: usize, height: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(width * height, 0.0);
    if width == 0 {
        return;
    }
    for y in 0..height {
        let row = |r: usize| &gray[r * width..(r + 1) * width];
        let (up, mid, down) = (row(y.saturating_sub(1)), row(y), row((y + 1).min(height - 1)));
        sobel_row(up, mid, down, &mut out[y * width..(y + 1) * width]);
    }
}

/// One row of [`gradient_magnitudes`] from the rows above and below it. The
/// interior runs over plain shifted slices so it vectorises; both ends
/// repeat their edge pixel. The arithmetic is the same, term for term, as
/// one pixel at a time, so the result is the same to the bit.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn sobel_row(up: &[f32], mid: &[f32], down: &[f32], out: &mut [f32]) {
    // Each Sobel side weighs 4 pixels: /4 /255 turns a full black-to-white
    // step into 1.0 whatever the grid's size.
    let norm = 1.0 / (4.0 * 255.0);
    let width = out.len();
    let magnitude = |xm: usize, x: usize, xp: usize| {
        let gx = (up[xp] + 2.0 * mid[xp] + down[xp]) - (up[xm] + 2.0 * mid[xm] + down[xm]);
        let gy = (down[xm] + 2.0 * down[x] + down[xp]) - (up[xm] + 2.0 * up[x] + up[xp]);
        (gx * gx + gy * gy).sqrt() * norm
    };
    out[0] = magnitude(0, 0, 1.min(width - 1));
    if width < 2 {
        return;
    }
    out[width - 1] = magnitude(width - 2, width - 1, width - 1);
    let n = width - 2;
    let (ul, uc, ur) = (&up[..n], &up[1..=n], &up[2..]);
    let (ml, mr) = (&mid[..n], &mid[2..]);
    let (dl, dc, dr) = (&down[..n], &down[1..=n], &down[2..]);
    for (i, o) in out[1..=n].iter_mut().enumerate() {
        let gx = (ur[i] + 2.0 * mr[i] + dr[i]) - (ul[i] + 2.0 * ml[i] + dl[i]);
        let gy = (dl[i] + 2.0 * dc[i] + dr[i]) - (ul[i] + 2.0 * uc[i] + ur[i]);
        *o = (gx * gx + gy * gy).sqrt() * norm;
    }
}

/// Gradient statistics from a magnitude map.
#[must_use]
pub fn gradient_stats_of(magnitudes: &[f32]) -> GradientStats {
    let (sum, edges) = sum_and_edges(magnitudes);
    let n = magnitudes.len().max(1) as f64;
    GradientStats {
        gradient_energy: sum / n,
        edge_density: edges as f64 / n,
    }
}

/// The magnitudes' sum and how many are edges, in eight partial sums so the
/// loop vectorises (the sum differs from a running one in the last bits).
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn sum_and_edges(magnitudes: &[f32]) -> (f64, usize) {
    const LANES: usize = 8;
    let (mut sums, mut edges) = ([0f64; LANES], [0usize; LANES]);
    let chunks = magnitudes.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        let chunk: &[f32; LANES] = chunk.try_into().expect("a whole chunk");
        for lane in 0..LANES {
            sums[lane] += f64::from(chunk[lane]);
            edges[lane] += usize::from(chunk[lane] > EDGE_THRESHOLD);
        }
    }
    for &m in tail {
        sums[0] += f64::from(m);
        edges[0] += usize::from(m > EDGE_THRESHOLD);
    }
    (sums.iter().sum(), edges.iter().sum())
}

/// Sobel statistics with replicated borders.
#[must_use]
pub fn gradient_stats(gray: &[f32], width: usize, height: usize) -> GradientStats {
    let mut magnitudes = Vec::new();
    gradient_magnitudes(gray, width, height, &mut magnitudes);
    gradient_stats_of(&magnitudes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-pixel definition the row kernel must equal to the bit.
    fn one_pixel_at_a_time(gray: &[f32], width: usize, height: usize) -> Vec<f32> {
        let at = |x: usize, y: usize| gray[y * width + x];
        let norm = 1.0 / (4.0 * 255.0);
        let mut out = Vec::new();
        for y in 0..height {
            let (ym, yp) = (y.saturating_sub(1), (y + 1).min(height - 1));
            for x in 0..width {
                let (xm, xp) = (x.saturating_sub(1), (x + 1).min(width - 1));
                let gx = (at(xp, ym) + 2.0 * at(xp, y) + at(xp, yp)) - (at(xm, ym) + 2.0 * at(xm, y) + at(xm, yp));
                let gy = (at(xm, yp) + 2.0 * at(x, yp) + at(xp, yp)) - (at(xm, ym) + 2.0 * at(x, ym) + at(xp, ym));
                out.push((gx * gx + gy * gy).sqrt() * norm);
            }
        }
        out
    }

    #[test]
    fn rows_equal_the_per_pixel_definition_bit_for_bit() {
        for (w, h) in [(1, 1), (1, 4), (4, 1), (2, 2), (3, 5), (160, 90), (37, 11)] {
            let gray: Vec<f32> = (0..w * h).map(|i| ((i * 7919 + i / 3) % 256) as f32 * 0.75).collect();
            let mut fast = Vec::new();
            gradient_magnitudes(&gray, w, h, &mut fast);
            let slow = one_pixel_at_a_time(&gray, w, h);
            assert_eq!(
                fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn flat_has_no_gradient_and_a_step_is_an_edge() {
        let flat = vec![100.0f32; 25];
        let s = gradient_stats(&flat, 5, 5);
        assert_eq!((s.gradient_energy, s.edge_density), (0.0, 0.0));
        let step: Vec<f32> = (0..25).map(|i| if i % 5 < 2 { 0.0 } else { 255.0 }).collect();
        let s = gradient_stats(&step, 5, 5);
        assert!((s.edge_density - 0.4).abs() < 1e-9, "{s:?}");
        assert!(s.gradient_energy > 0.1);
    }
}
