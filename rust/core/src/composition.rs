//! Composition metadata: where the picture's weight sits and how it is framed.
//!
//! Everything is measured on the analysis grid inside the frame's black bars,
//! except depth of field, which uses the full-resolution focus blocks of the
//! luma pass.

use crate::color::Grid;
use crate::luma::{Bars, SHARPNESS_BLOCKS_X, SHARPNESS_BLOCKS_Y};

/// Weight of colour contrast against edge energy in the saliency map.
pub const COLOUR_WEIGHT: f32 = 0.5;
/// Distance (as a fraction of the content box) from a third-line
/// intersection to the centre: the rule-of-thirds score falls to 0 there.
const THIRDS_REACH: f64 = 0.235_702_260_395_515_8; // sqrt(2) / 6

/// Composition of one frame; all values 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Composition {
    /// Saliency-weighted centroid, as fractions of the content box.
    pub saliency_x: f64,
    pub saliency_y: f64,
    /// Root-mean-square distance of the saliency mass from its centroid
    /// (fractions of the content box; about 0.41 when spread evenly).
    pub saliency_spread: f64,
    /// 1 when the centroid sits on a third-line intersection, 0 at the
    /// centre or further away.
    pub thirds: f64,
    /// Left-right mirror similarity of the gray picture.
    pub symmetry: f64,
    /// How much sharper the most salient quarter of the picture is than the
    /// rest: `1 - focus(rest) / focus(salient)`, 0 when not sharper. A sharp
    /// subject on a soft background scores high.
    pub depth_of_field: f64,
}

/// The content box on a grid of `gw x gh` cells as (x0, y0, x1, y1), from
/// bars measured in `width x height` pixels. Bars that would leave less than
/// a third of either dimension belong to a dark frame, not a letterbox, and
/// are ignored.
#[must_use]
pub fn content_cells(bars: Bars, width: usize, height: usize, gw: usize, gh: usize) -> (usize, usize, usize, usize) {
    let (top, bottom) = (bars.top as usize, bars.bottom as usize);
    let (left, right) = (bars.left as usize, bars.right as usize);
    // Cells that are partly bar count as bar: round the bars up to whole cells.
    let (y0, y1) = if top + bottom < height * 2 / 3 {
        ((top * gh).div_ceil(height), gh - (bottom * gh).div_ceil(height))
    } else {
        (0, gh)
    };
    let (x0, x1) = if left + right < width * 2 / 3 {
        ((left * gw).div_ceil(width), gw - (right * gw).div_ceil(width))
    } else {
        (0, gw)
    };
    let (y0, x0) = (y0.min(gh - 1), x0.min(gw - 1));
    (x0, y0, x1.max(x0 + 1), y1.max(y0 + 1))
}

/// Composition of a grid, with its Sobel `magnitudes` (see
/// [`crate::edges::gradient_magnitudes`]) and `sharpness_blocks` from the luma pass.
#[must_use]
pub fn composition(
    grid: &Grid,
    magnitudes: &[f32],
    bars: Bars,
    (width, height): (usize, usize),
    sharpness_blocks: &[f64],
) -> Composition {
    let (gw, gh) = (grid.width, grid.height);
    if gw == 0 || gh == 0 || grid.gray.len() != gw * gh || magnitudes.len() != gw * gh {
        return Composition::default();
    }
    let (x0, y0, x1, y1) = content_cells(bars, width, height, gw, gh);
    let (cw, ch) = (x1 - x0, y1 - y0);
    let n = (cw * ch) as f32;
    let (mut mr, mut mg, mut mb) = (0f32, 0f32, 0f32);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = y * gw + x;
            mr += grid.red[i];
            mg += grid.green[i];
            mb += grid.blue[i];
        }
    }
    let (mr, mg, mb) = (mr / n, mg / n, mb / n);
    // A bar's edge is the strongest gradient in a letterboxed frame; the
    // cells along a barred side are left out of the edge term.
    let (ex0, ey0) = (x0 + usize::from(x0 > 0), y0 + usize::from(y0 > 0));
    let (ex1, ey1) = (x1 - usize::from(x1 < gw), y1 - usize::from(y1 < gh));
    let mut saliency = vec![0f32; cw * ch];
    for (y, out) in (y0..y1).zip(saliency.chunks_exact_mut(cw)) {
        let cells = y * gw + x0..y * gw + x1;
        let (red, green, blue) = (
            &grid.red[cells.clone()],
            &grid.green[cells.clone()],
            &grid.blue[cells.clone()],
        );
        for (o, ((&r, &g), &b)) in out.iter_mut().zip(red.iter().zip(green).zip(blue)) {
            // L1 colour distance from the mean: no square root per pixel.
            let colour = ((r - mr).abs() + (g - mg).abs() + (b - mb).abs()) / 765.0;
            *o = COLOUR_WEIGHT * colour;
        }
        if (ey0..ey1).contains(&y) && ex0 < ex1 {
            let edges = &magnitudes[y * gw + ex0..y * gw + ex1];
            for (o, &edge) in out[ex0 - x0..ex1 - x0].iter_mut().zip(edges) {
                *o += edge;
            }
        }
    }
    // The centroid and spread need only the saliency's row and column sums:
    // the sum of s * ((fx - cx)^2 + (fy - cy)^2) splits into one sum over
    // columns and one over rows, so no cell needs its position computed.
    let mut columns = vec![0f64; cw];
    let mut rows = vec![0f64; ch];
    for (values, row) in saliency.chunks_exact(cw).zip(rows.iter_mut()) {
        let mut sum = 0f64;
        for (&s, column) in values.iter().zip(columns.iter_mut()) {
            sum += f64::from(s);
            *column += f64::from(s);
        }
        *row = sum;
    }
    let total: f64 = rows.iter().sum();
    let (mut cx, mut cy) = (0.5, 0.5);
    let mut spread = 0.0;
    if total > 0.0 {
        let weighted = |sums: &[f64]| -> Vec<(f64, f64)> {
            let n = sums.len() as f64;
            sums.iter()
                .enumerate()
                .map(|(i, &s)| (s, (i as f64 + 0.5) / n))
                .collect()
        };
        let (columns, rows) = (weighted(&columns), weighted(&rows));
        cx = columns.iter().map(|&(s, f)| s * f).sum::<f64>() / total;
        cy = rows.iter().map(|&(s, f)| s * f).sum::<f64>() / total;
        let var = columns.iter().map(|&(s, f)| s * (f - cx).powi(2)).sum::<f64>()
            + rows.iter().map(|&(s, f)| s * (f - cy).powi(2)).sum::<f64>();
        spread = (var / total).sqrt();
    }
    let nearest = [1.0 / 3.0, 2.0 / 3.0]
        .iter()
        .flat_map(|&tx| [1.0 / 3.0, 2.0 / 3.0].map(|ty: f64| ((cx - tx).powi(2) + (cy - ty).powi(2)).sqrt()))
        .fold(f64::INFINITY, f64::min);
    let thirds = (1.0 - nearest / THIRDS_REACH).clamp(0.0, 1.0);

    let mut mirror = 0f64;
    for y in y0..y1 {
        let row = &grid.gray[y * gw + x0..y * gw + x1];
        for (&left, &right) in row.iter().zip(row.iter().rev()).take(cw / 2) {
            mirror += f64::from((left - right).abs());
        }
    }
    let pairs = (ch * (cw / 2)).max(1) as f64;
    let symmetry = (1.0 - mirror / pairs / 128.0).clamp(0.0, 1.0);

    Composition {
        saliency_x: cx,
        saliency_y: cy,
        saliency_spread: spread,
        thirds,
        symmetry,
        depth_of_field: depth_of_field(&saliency, (x0, y0, cw, ch), (gw, gh), sharpness_blocks),
    }
}

/// Compare focus in the blocks holding the most saliency with the rest.
fn depth_of_field(
    saliency: &[f32],
    content: (usize, usize, usize, usize),
    grid: (usize, usize),
    blocks: &[f64],
) -> f64 {
    let (x0, y0, cw, ch) = content;
    let (gw, gh) = grid;
    if blocks.len() != SHARPNESS_BLOCKS_X * SHARPNESS_BLOCKS_Y {
        return 0.0;
    }
    // Saliency per focus block, over the blocks whose centre lies in the content.
    let mut block_saliency = vec![0f64; blocks.len()];
    let mut inside = vec![false; blocks.len()];
    for (b, flag) in inside.iter_mut().enumerate() {
        let (bx, by) = (b % SHARPNESS_BLOCKS_X, b / SHARPNESS_BLOCKS_X);
        let centre_x = (2 * bx + 1) * gw / (2 * SHARPNESS_BLOCKS_X);
        let centre_y = (2 * by + 1) * gh / (2 * SHARPNESS_BLOCKS_Y);
        *flag = (x0..x0 + cw).contains(&centre_x) && (y0..y0 + ch).contains(&centre_y);
    }
    let block_of_column: Vec<usize> = (x0..x0 + cw).map(|x| x * SHARPNESS_BLOCKS_X / gw).collect();
    for (row, values) in saliency.chunks_exact(cw).enumerate() {
        let block_row = ((y0 + row) * SHARPNESS_BLOCKS_Y / gh) * SHARPNESS_BLOCKS_X;
        for (&s, &block_column) in values.iter().zip(&block_of_column) {
            block_saliency[block_row + block_column] += f64::from(s);
        }
    }
    let mut order: Vec<usize> = (0..blocks.len()).filter(|&b| inside[b]).collect();
    if order.len() < 4 {
        return 0.0;
    }
    order.sort_by(|&a, &b| block_saliency[b].total_cmp(&block_saliency[a]).then(a.cmp(&b)));
    let quarter = order.len().div_ceil(4);
    let mean = |set: &[usize]| set.iter().map(|&b| blocks[b]).sum::<f64>() / set.len().max(1) as f64;
    let salient = mean(&order[..quarter]);
    let rest = mean(&order[quarter..]);
    if salient <= 0.0 {
        return 0.0;
    }
    (1.0 - rest / salient).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(grid: &Grid, bars: Bars, blocks: &[f64]) -> Composition {
        let mut magnitudes = Vec::new();
        crate::edges::gradient_magnitudes(&grid.gray, grid.width, grid.height, &mut magnitudes);
        composition(grid, &magnitudes, bars, (grid.width, grid.height), blocks)
    }

    fn grid_from(gray: &[f32], w: usize, h: usize) -> Grid {
        Grid {
            width: w,
            height: h,
            red: gray.to_vec(),
            green: gray.to_vec(),
            blue: gray.to_vec(),
            gray: gray.to_vec(),
        }
    }

    #[test]
    fn a_subject_on_a_third_scores_high_and_a_centred_one_low() {
        let (w, h) = (48, 27);
        let spot = |cx: usize, cy: usize| -> Vec<f32> {
            (0..w * h)
                .map(|i| {
                    let (x, y): (usize, usize) = (i % w, i / w);
                    if x.abs_diff(cx) <= 2 && y.abs_diff(cy) <= 2 {
                        230.0
                    } else {
                        40.0
                    }
                })
                .collect()
        };
        let blocks = vec![1.0; SHARPNESS_BLOCKS_X * SHARPNESS_BLOCKS_Y];
        let on_third = framing(&grid_from(&spot(16, 9), w, h), Bars::default(), &blocks);
        let centred = framing(&grid_from(&spot(24, 13), w, h), Bars::default(), &blocks);
        // The background adds a little colour contrast everywhere, which pulls the
        // centroid a little towards the centre.
        assert!(on_third.thirds > 0.6, "{on_third:?}");
        assert!(centred.thirds < 0.2, "{centred:?}");
        assert!((centred.saliency_x - 0.5).abs() < 0.02 && (centred.saliency_y - 0.5).abs() < 0.03);
        assert!(centred.symmetry > on_third.symmetry);
    }

    #[test]
    fn bars_are_not_content() {
        let (w, h) = (40, 30);
        let mut gray = vec![0.0f32; w * h];
        for y in 5..25 {
            for x in 0..w {
                gray[y * w + x] = if x < 10 { 200.0 } else { 60.0 };
            }
        }
        let bars = Bars {
            top: 5,
            bottom: 5,
            left: 0,
            right: 0,
        };
        let c = framing(&grid_from(&gray, w, h), bars, &[]);
        // The bright band sits in the left quarter of the content, vertically centred.
        assert!(c.saliency_x < 0.4, "{c:?}");
        assert!((c.saliency_y - 0.5).abs() < 0.05, "{c:?}");
        assert_eq!(content_cells(bars, w, h, w, h), (0, 5, w, 25));
        // Bars covering nearly everything are a dark frame, not a letterbox.
        let dark = Bars {
            top: 14,
            bottom: 14,
            left: 0,
            right: 0,
        };
        assert_eq!(content_cells(dark, w, h, w, h), (0, 0, w, h));
    }

    #[test]
    fn sharp_subject_on_soft_background_has_depth() {
        let (w, h) = (32, 18);
        let gray: Vec<f32> = (0..w * h)
            .map(|i| {
                if (12..20).contains(&(i % w)) && (6..12).contains(&(i / w)) {
                    250.0
                } else {
                    60.0
                }
            })
            .collect();
        let mut blocks = vec![1.0; SHARPNESS_BLOCKS_X * SHARPNESS_BLOCKS_Y];
        // Focus only where the subject is (block columns 6-9, rows 3-5).
        for by in 3..6 {
            for bx in 6..10 {
                blocks[by * SHARPNESS_BLOCKS_X + bx] = 100.0;
            }
        }
        let shallow = framing(&grid_from(&gray, w, h), Bars::default(), &blocks);
        let flat = framing(&grid_from(&gray, w, h), Bars::default(), &vec![5.0; blocks.len()]);
        assert!(shallow.depth_of_field > 0.5, "{shallow:?}");
        assert!(flat.depth_of_field < 0.01, "{flat:?}");
    }
}
