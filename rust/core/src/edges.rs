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
    out.reserve(width * height);
    let at = |x: usize, y: usize| gray[y * width + x];
    // Each Sobel side weighs 4 pixels: /4 /255 turns a full black-to-white
    // step into 1.0 whatever the grid's size.
    let norm = 1.0 / (4.0 * 255.0);
    for y in 0..height {
        let ym = y.saturating_sub(1);
        let yp = (y + 1).min(height - 1);
        for x in 0..width {
            let xm = x.saturating_sub(1);
            let xp = (x + 1).min(width - 1);
            let gx = (at(xp, ym) + 2.0 * at(xp, y) + at(xp, yp)) - (at(xm, ym) + 2.0 * at(xm, y) + at(xm, yp));
            let gy = (at(xm, yp) + 2.0 * at(x, yp) + at(xp, yp)) - (at(xm, ym) + 2.0 * at(x, ym) + at(xp, ym));
            out.push((gx * gx + gy * gy).sqrt() * norm);
        }
    }
}

/// Gradient statistics from a magnitude map.
#[must_use]
pub fn gradient_stats_of(magnitudes: &[f32]) -> GradientStats {
    let sum: f64 = magnitudes.iter().map(|&m| f64::from(m)).sum();
    let edges = magnitudes.iter().filter(|&&m| m > EDGE_THRESHOLD).count();
    let n = magnitudes.len().max(1) as f64;
    GradientStats {
        gradient_energy: sum / n,
        edge_density: edges as f64 / n,
    }
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
